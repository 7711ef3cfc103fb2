"""One process of the two-process Accelerate run of tests/distributed/test_accelerate.py.

Launched by ``torch.distributed.run`` (``accelerate launch`` works the same);
fits each defense named on the command line data-parallel and saves, from the
main process, its final weights and predictions to ``<out>/<name>.npz``.
"""
import sys

from accelerate import Accelerator
import numpy as np
import torch

from robustsk.defenses import all_defenses
from robustsk.distributed import accelerated

torch.set_num_threads(1)


def tiny_data():
    from robustsk.datasets import load_digits_images
    X, y = load_digits_images(return_X_y=True)
    return X[:128].reshape(128, -1), y[:128]


PARAMS = dict(n_iter=2, max_epochs=2, batch_size=32, random_state=0, eps=0.1,
              clip_min=0.0, clip_max=1.0, verbose=0)


def main(out, names):
    accelerator = Accelerator(cpu=True)
    assert accelerator.num_processes == 2, accelerator.num_processes
    X, y = tiny_data()
    for name in names:
        net = accelerated(all_defenses()[name])(accelerator=accelerator, **PARAMS).fit(X, y)
        weights = torch.cat([p.detach().flatten() for p in net.module_.parameters()])
        both = accelerator.gather(weights[None])  # (2, n_weights): every process's copy
        if accelerator.is_main_process:
            np.savez(f"{out}/{name}.npz", weights=weights.numpy(), predict=net.predict(X),
                     rank_gap=float((both[0] - both[1]).abs().max()),
                     n_batches=len(net.history[-1]["batches"]))
        accelerator.wait_for_everyone()
    # destroy the process group before exit: left to interpreter teardown, gloo's
    # threads can abort the process ("terminate called without an active exception")
    accelerator.end_training()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
