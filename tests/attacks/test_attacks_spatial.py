"""The spatial (rotation + translation) grid attack."""
import numpy as np
import pytest
import torch

from robustsk.attacks.spatial import Spatial, spatial, spatial_transform


def test_rotation_is_counter_clockwise_and_shift_moves_right():
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 2, 5] = 1.0  # up and right of the centre
    assert spatial_transform(x, 90.0, (0.0, 0.0))[0, 0].argmax().item() == 2 * 8 + 2
    assert spatial_transform(x, 0.0, (0.125, 0.0))[0, 0].argmax().item() == 2 * 8 + 6
    torch.testing.assert_close(spatial_transform(x, 0.0, (0.0, 0.0)), x)


def test_rotation_comes_before_the_translation_along_the_image_axes():
    """Engstrom et al. rotate, then shift along the image's axes: the shift is not rotated
    (it was, so a rotated cell's shift exceeded max_translation along an axis)."""
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 3:5, 3:5] = 1.0  # a centred 2x2 blob, unchanged by a quarter turn
    rows, cols = torch.arange(8.0).view(-1, 1), torch.arange(8.0).view(1, -1)

    def centre(t):
        t = t[0, 0]
        return ((t * rows).sum() / t.sum()).item(), ((t * cols).sum() / t.sum()).item()
    assert centre(spatial_transform(x, 90.0, (0.25, 0.0))) == pytest.approx((3.5, 5.5), abs=1e-5)
    assert centre(spatial_transform(x, -90.0, (0.0, 0.25))) == pytest.approx((5.5, 3.5), abs=1e-5)
    assert centre(spatial_transform(x, 30.0, (0.125, 0.125))) == pytest.approx((4.5, 4.5),
                                                                                abs=1e-4)


def test_spatial_lowers_accuracy_with_transformed_images(image_clf, image_data):
    _, _, X, y = image_data
    X_copy = X.copy()
    attack = Spatial(n_rotations=7, n_translations=3)
    X_adv = attack.generate(image_clf, X, y)
    np.testing.assert_array_equal(X, X_copy)
    assert X_adv.shape == X.shape and X_adv.dtype == X.dtype
    clean, adv = (image_clf.predict(X) == y).mean(), (image_clf.predict(X_adv) == y).mean()
    assert adv < clean - 0.1
    assert X_adv.min() >= 0.0 and X_adv.max() <= 1.0
    # not an Lp attack: no projection onto the estimator's eps ball
    assert np.abs(X_adv - X).max() > image_clf.eps


def test_outputs_are_grid_transformations(image_clf, image_data):
    _, _, X, y = image_data
    target_module = image_clf.module_
    x, yt = torch.as_tensor(X[:40]), torch.as_tensor(y[:40])
    x_adv, angle, shift = spatial(target_module, x, yt, n_rotations=7, n_translations=3,
                                  clip_min=0.0, clip_max=1.0, return_params=True)
    grid_a, grid_t = np.linspace(-30, 30, 7), np.array([-0.1, 0.0, 0.1])
    assert np.isclose(angle.numpy()[:, None], grid_a).any(1).all()
    assert np.isclose(shift.numpy().ravel()[:, None], grid_t).any(1).all()
    moved = (angle != 0) | (shift != 0).any(1)
    assert moved.any()
    redo = spatial_transform(x, angle, shift).clamp(0, 1)
    torch.testing.assert_close(x_adv[moved], redo[moved])
    torch.testing.assert_close(x_adv[~moved], x[~moved])
    with torch.no_grad():
        fooled = image_clf.module_(x_adv).argmax(1) != yt
    assert fooled[moved].float().mean() > 0.5


def test_spatial_refuses_flat_inputs():
    model = torch.nn.Linear(64, 3)
    with pytest.raises(ValueError, match="images"):
        spatial(model, torch.rand(2, 64), torch.tensor([0, 1]))
