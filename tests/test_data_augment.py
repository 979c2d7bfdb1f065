"""Whole-batch augmentation: property tests against direct references (numpy/torch pad)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lrlab.data.augment import (
    ImageAugment,
    Normalize,
    crop_flip,
    cutout,
    cutout_mask,
    hflip,
    random_crop,
    rotate,
)
from lrlab.errors import InvalidArgument

DTYPES = [torch.uint8, torch.float32, torch.float64, torch.int64]


@st.composite
def batches(draw, min_side: int = 2):
    n = draw(st.integers(1, 4))
    c = draw(st.integers(1, 3))
    h = draw(st.integers(min_side, 9))
    w = draw(st.integers(min_side, 9))
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, c, h, w), generator=g).to(dtype)
    return x, g


def _offsets(g: torch.Generator, n: int, p: int) -> tuple[torch.Tensor, torch.Tensor]:
    return (
        torch.randint(-p, p + 1, (n,), generator=g),
        torch.randint(-p, p + 1, (n,), generator=g),
    )


@settings(max_examples=60, deadline=None)
@given(batches(), st.integers(0, 4), st.sampled_from(["reflect", "zeros"]))
def test_crop_is_a_window_of_the_padded_image(data, padding, mode):
    x, g = data
    n, _, h, w = x.shape
    padding = min(padding, min(h, w) - 1)
    dy, dx = _offsets(g, n, padding)
    out = random_crop(x, dy, dx, padding=padding, mode=mode)
    assert out.shape == x.shape and out.dtype == x.dtype
    np_mode = "reflect" if mode == "reflect" else "constant"
    padded = np.pad(x.numpy(), [(0, 0), (0, 0), (padding, padding), (padding, padding)], np_mode)
    for i in range(n):
        top, left = padding + int(dy[i]), padding + int(dx[i])
        window = padded[i, :, top : top + h, left : left + w]
        np.testing.assert_array_equal(out[i].numpy(), window)


@settings(max_examples=30, deadline=None)
@given(batches(min_side=5), st.integers(1, 4))
def test_reflect_crop_matches_torch_reflection_pad(data, padding):
    x, g = data
    x = x.float()
    n, _, h, w = x.shape
    dy, dx = _offsets(g, n, padding)
    out = random_crop(x, dy, dx, padding=padding, mode="reflect")
    padded = F.pad(x, (padding,) * 4, mode="reflect")
    for i in range(n):
        top, left = padding + int(dy[i]), padding + int(dx[i])
        assert torch.equal(out[i], padded[i, :, top : top + h, left : left + w])


@settings(max_examples=40, deadline=None)
@given(batches())
def test_flip_is_a_flip(data):
    x, g = data
    mask = torch.rand(x.shape[0], generator=g) < 0.5
    out = hflip(x, mask)
    assert out.dtype == x.dtype and out.shape == x.shape
    for i in range(x.shape[0]):
        expected = x[i].flip(-1) if mask[i] else x[i]
        assert torch.equal(out[i], expected)
    assert torch.equal(hflip(out, mask), x)  # an involution


@settings(max_examples=40, deadline=None)
@given(batches(), st.integers(0, 3), st.sampled_from(["reflect", "zeros"]))
def test_fused_crop_flip_equals_crop_then_flip(data, padding, mode):
    x, g = data
    n, _, h, w = x.shape
    padding = min(padding, min(h, w) - 1)
    dy, dx = _offsets(g, n, padding)
    mask = torch.rand(n, generator=g) < 0.5
    fused = crop_flip(x, dy, dx, mask, padding=padding, mode=mode)
    assert torch.equal(fused, hflip(random_crop(x, dy, dx, padding=padding, mode=mode), mask))


@settings(max_examples=60, deadline=None)
@given(batches(), st.integers(1, 4))
def test_cutout_zeroes_exactly_the_patch(data, size):
    x, g = data
    n, c, h, w = x.shape
    size = min(size, h, w)
    x = x + 1  # no zero pixels before cutout, so zeros mark the patch exactly (uint8: 255+1 wraps)
    x = torch.where(x == 0, torch.ones_like(x), x)
    y0 = torch.randint(0, h - size + 1, (n,), generator=g)
    x0 = torch.randint(0, w - size + 1, (n,), generator=g)
    out = cutout(x, y0, x0, size)
    assert out.dtype == x.dtype and out.shape == x.shape
    for i in range(n):
        expected = x[i].clone()
        expected[:, y0[i] : y0[i] + size, x0[i] : x0[i] + size] = 0
        assert torch.equal(out[i], expected)
        assert int((out[i] == 0).sum()) == c * size * size


@settings(max_examples=40, deadline=None)
@given(batches(min_side=3))
def test_right_angle_rotations_are_rot90(data):
    x, _ = data
    n, _, h, w = x.shape
    if h != w:
        x = x[..., : min(h, w), : min(h, w)]
    for k, deg in ((0, 0.0), (1, 90.0), (2, 180.0), (3, 270.0), (3, -90.0)):
        out = rotate(x, torch.full((n,), deg))
        assert out.dtype == x.dtype and out.shape == x.shape
        assert torch.equal(out, torch.rot90(x, k, dims=(-2, -1)))  # counter-clockwise


@settings(max_examples=40, deadline=None)
@given(batches(min_side=3), st.floats(-180, 180, allow_nan=False))
def test_rotation_keeps_the_centre_pixel_of_odd_images(data, deg):
    x, _ = data
    side = min(x.shape[-2:])
    side -= 1 - side % 2  # odd: a pixel sits on the centre
    x = x[..., :side, :side]
    out = rotate(x, torch.full((x.shape[0],), deg))
    c = side // 2
    assert torch.equal(out[..., c, c], x[..., c, c])


def test_rotation_is_a_permutation_inside_the_inscribed_disc():
    g = torch.Generator().manual_seed(0)
    x = torch.randperm(31 * 31, generator=g).float().view(1, 1, 31, 31) + 1
    out = rotate(x, torch.tensor([10.0]))
    yy, xx = torch.meshgrid(torch.arange(31) - 15, torch.arange(31) - 15, indexing="ij")
    inside = (yy**2 + xx**2) <= 13**2
    assert (out[0, 0][inside] > 0).all()  # nothing from outside the frame lands in the disc
    assert set(out[0, 0][inside].tolist()) <= set(x.flatten().tolist())
    corners = out[0, 0][(yy.abs() == 15) & (xx.abs() == 15)]
    assert (corners == 0).all()  # the corners rotate out of the frame: filled with zeros


def test_cutout_holes_union():
    mask = cutout_mask(torch.tensor([[0, 2]]), torch.tensor([[0, 2]]), 3, 6, 6)[0, 0]
    expected = torch.zeros(6, 6, dtype=torch.bool)
    expected[0:3, 0:3] = True
    expected[2:5, 2:5] = True
    assert torch.equal(mask, expected)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 40))
def test_sampled_parameters_stay_in_range(seed, n):
    aug = ImageAugment(padding=4, cutout=8, cutout_holes=2, rotate=10)
    p = aug.sample(n, 32, 32, torch.Generator().manual_seed(seed))
    assert p["angle"].abs().max() <= 10
    # adding rotation leaves the other parameters' stream unchanged
    q = ImageAugment(padding=4, cutout=8, cutout_holes=2).sample(
        n, 32, 32, torch.Generator().manual_seed(seed)
    )
    assert all(torch.equal(p[k], q[k]) for k in q)
    assert p["dy"].abs().max() <= 4 and p["dx"].abs().max() <= 4
    assert p["y0"].shape == (n, 2) and int(p["y0"].max()) <= 24 and int(p["x0"].min()) >= 0
    assert p["flip"].dtype == torch.bool


def test_pipeline_crop_flip_cutout_on_cifar_shaped_batch():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(1, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=g)
    aug = ImageAugment(padding=4, pad_mode="reflect", flip=True, cutout=8)
    params = aug.sample(64, 32, 32, torch.Generator().manual_seed(1))
    out = aug(x, params)
    assert out.shape == x.shape and out.dtype == torch.uint8
    # each image has exactly one 8×8 zero patch in every channel (inputs had no zeros)
    assert torch.equal((out == 0).sum(dim=(1, 2, 3)), torch.full((64,), 3 * 64))
    ref = cutout(
        crop_flip(x, params["dy"], params["dx"], params["flip"], padding=4),
        params["y0"],
        params["x0"],
        8,
    )
    assert torch.equal(out, ref)
    # about half the images are flipped
    assert 16 < int(params["flip"].sum()) < 48


def test_normalize_fit_and_apply():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (100, 3, 4, 4), dtype=torch.uint8, generator=g)
    norm = Normalize.fit(x)
    xf = x.double() / 255
    assert np.allclose(norm.mean, xf.mean(dim=(0, 2, 3)).numpy())
    assert np.allclose(norm.std, xf.std(dim=(0, 2, 3), unbiased=False).numpy())
    z = norm(x)
    assert z.dtype == torch.float32
    assert torch.allclose(z.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(z.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-4)
    cl = Normalize(norm.mean, norm.std, memory_format=torch.channels_last)(x)
    assert cl.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ImageAugment(padding=-1),
        lambda: ImageAugment(pad_mode="edge"),
        lambda: ImageAugment(cutout=-2),
        lambda: ImageAugment(cutout_holes=0),
        lambda: ImageAugment(rotate=200),
        lambda: ImageAugment(cutout=40).sample(2, 32, 32, torch.Generator()),
        lambda: random_crop(torch.zeros(1, 1, 3, 3), torch.zeros(1), torch.zeros(1), padding=3),
        lambda: random_crop(torch.zeros(3, 3), torch.zeros(1), torch.zeros(1), padding=1),
        lambda: Normalize((0.5,), (0.5, 0.5)),
        lambda: Normalize((0.5,), (0.0,)),
    ],
)
def test_bad_augmentation_arguments(make):
    with pytest.raises(InvalidArgument):
        make()
