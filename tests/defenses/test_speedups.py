"""The opt-in training speed-ups: same training where they are mathematical no-ops, validation."""

import numpy as np
import pytest
import torch

from robustsk.datasets import load_digits_images
from robustsk.defenses import TRADES, AdversarialTraining

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

KW = dict(eps=0.1, n_iter=3, clip_min=0.0, clip_max=1.0, max_epochs=1, batch_size=32,
          random_state=0)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits_images(return_X_y=True)
    return X[:96], y[:96]


def weights(clf):
    return torch.cat([p.detach().flatten() for p in clf.module_.parameters()])


def fit(cls, data, **kw):
    return cls(**{**KW, **kw}).fit(*data)


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_trades_clean_logits_reuse_trains_the_same(digits, norm):
    eps = {"inf": 0.1, "2": 0.5}[norm]
    old = fit(TRADES, digits, norm=norm, eps=eps)
    new = fit(TRADES, digits, norm=norm, eps=eps, reuse_clean_logits=True)
    # SmallCNN has no batch norm or dropout: eval- and train-mode logits agree.
    torch.testing.assert_close(weights(new), weights(old))
    assert new.history[-1]["train_loss"] == pytest.approx(old.history[-1]["train_loss"],
                                                          rel=1e-5)


def test_early_stop_that_never_stops_is_the_plain_attack(digits):
    plain = fit(AdversarialTraining, digits)
    never = fit(AdversarialTraining, digits, early_stop=KW["n_iter"])
    torch.testing.assert_close(weights(never), weights(plain))


def test_early_stop_zero_changes_the_training_examples(digits):
    plain = fit(AdversarialTraining, digits)
    early = fit(AdversarialTraining, digits, early_stop=0)
    assert np.isfinite(early.history[-1]["train_loss"])
    assert not torch.equal(weights(early), weights(plain))


def test_channels_last_trains_the_same(digits):
    plain = fit(AdversarialTraining, digits)
    cl = fit(AdversarialTraining, digits, channels_last=True)
    conv = next(p for p in cl.module_.parameters() if p.ndim == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(weights(cl), weights(plain), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cls", [AdversarialTraining, TRADES])
def test_bf16_autocast_trains_close_and_keeps_float32(digits, cls):
    init = weights(fit(cls, digits, max_epochs=0))
    plain = fit(cls, digits)
    bf16 = fit(cls, digits, autocast="bfloat16")
    w, w0 = weights(bf16), weights(plain)
    assert w.dtype == torch.float32 and torch.isfinite(w).all()
    assert not torch.equal(w, w0)  # bf16 did run
    # The bf16 update points the same way as the float32 one (cosine 0.94-0.99 over
    # seeds 0-2 for both defenses; unrelated updates would give about 0).
    cosine = torch.nn.functional.cosine_similarity(w - init, w0 - init, dim=0)
    assert float(cosine) > 0.8


def test_compiled_attack_trains_the_same(digits, monkeypatch):
    # Inductor's C++ code generation takes minutes on a busy CPU: trace with dynamo and
    # AOTAutograd (what compile_attack exercises here) but run the traced graph eagerly.
    # benchmarks/training_options.py times the real inductor backend.
    real = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model: real(model, backend="aot_eager"))
    torch._dynamo.reset()
    X, y = digits
    kw = {**KW, "n_iter": 2, "batch_size": 48}  # two equal batches: one compilation
    plain = AdversarialTraining(**kw).fit(X, y)
    compiled = AdversarialTraining(**kw, compile_attack=True).fit(X, y)
    torch.testing.assert_close(weights(compiled), weights(plain), rtol=1e-4, atol=1e-5)
    assert type(compiled.attack_module()) is not type(compiled.module_)
    assert compiled.attack_module() is compiled.attack_module()  # compiled once


@pytest.mark.parametrize("cls, name, value", [
    (AdversarialTraining, "early_stop", -1),
    (AdversarialTraining, "early_stop", 1.5),
    (AdversarialTraining, "compile_attack", "yes"),
    (AdversarialTraining, "autocast", "float8"),
    (TRADES, "channels_last", 1),
    (TRADES, "reuse_clean_logits", "true"),
])
def test_bad_values_are_refused_before_training(digits, cls, name, value):
    clf = cls(**{**KW, name: value})
    with pytest.raises(ValueError, match=name):
        clf.fit(*digits)
    assert not hasattr(clf, "module_")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("cls", [AdversarialTraining, TRADES])
def test_bf16_channels_last_on_cuda(digits, cls):
    clf = fit(cls, digits, device="cuda", autocast="bfloat16", channels_last=True)
    assert np.isfinite(clf.history[-1]["train_loss"])
    assert 0 <= clf.score(*digits) <= 1
