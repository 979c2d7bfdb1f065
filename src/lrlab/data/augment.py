"""Whole-batch image augmentation and normalisation on the device.

Every function here works on a batch ``x`` of shape ``(N, C, H, W)`` at once (any dtype,
uint8 included, any device), with the random parameters passed in explicitly — so the
randomness lives in one place (:meth:`ImageAugment.sample`, a seeded CPU generator) and the
maths is pure and testable:

* :func:`random_crop` — pad by ``p`` then take an ``H×W`` window at offset
  ``(p + dy, p + dx)``, ``dy, dx ∈ [-p, p]``; done as one ``gather`` with index arithmetic
  (``out[n, c, i, j] = pad(x)[n, c, i + p + dy_n, j + p + dx_n]``, the padded index mapped
  back into the image), never materialising the padded batch. Padding is ``"reflect"``
  (the default: Page's "How to train your ResNet" and airbench pad CIFAR-10 by
  reflection, 4 pixels in Page's recipe — no black borders for the network to learn) or
  ``"zeros"`` (He et al. 2016; torchvision's ``RandomCrop(32, padding=4)`` default).
* :func:`hflip` — mirror the samples whose mask is true.
* :func:`cutout` — zero ``holes`` squares of side ``size`` (DeVries & Taylor, 2017,
  "Improved regularization of convolutional neural networks with cutout"; Page's recipe:
  one 8×8 patch). The squares lie fully inside the image, as Page's (DeVries & Taylor
  centre them anywhere and clip them at the border). Applied *after* normalisation, as in
  both, so the patch is the dataset's mean colour rather than black. (Seed 001's
  albumentations ``A.Cutout()`` defaults to 8 holes of 8×8 filled with 0 *before*
  normalising, i.e. black: ``cutout_holes=8`` gets the count, not the colour.)
* :class:`Normalize` — ``uint8 → float / 255``, then ``(x - mean) / std`` per channel.

* :func:`rotate` — seed 003's ``RandomRotation``: nearest-neighbour rotation by a per-image
  angle, zeros outside (one ``affine_grid`` + ``grid_sample``).

:class:`ImageAugment` bundles crop → flip → rotation → cutout: the crop and the flip are
fused into one gather (:func:`crop_flip`), cutout is one ``torch.where``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lrlab.errors import InvalidArgument, check

PAD_MODES = ("reflect", "zeros")


def _reflect(index: torch.Tensor, size: int) -> torch.Tensor:
    """Reflect out-of-range indices back into ``[0, size)`` (edge not repeated, like
    ``numpy.pad(mode="reflect")``): ``-k → k`` and ``size - 1 + k → size - 1 - k``."""
    index = index.abs()
    return torch.where(index >= size, 2 * (size - 1) - index, index)


def _source_index(
    offset: torch.Tensor, size: int, padding: int, mode: str, flip: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-sample source indices ``(N, size)`` along one axis and, for zero padding, the mask
    of indices that fall inside the image."""
    out = torch.arange(size, device=offset.device)[None, :]
    if flip is not None:
        # Flip after cropping: output position j reads cropped position size - 1 - j.
        out = torch.where(flip[:, None], size - 1 - out, out)
    src = out + offset[:, None]
    if padding == 0:
        return src, None
    if mode == "reflect":
        return _reflect(src, size), None
    valid = (src >= 0) & (src < size)
    return src.clamp(0, size - 1), valid


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    """Keep a channels-last batch channels-last (the gather produces NHWC anyway)."""
    if (
        x.dim() == 4
        and not x.is_contiguous()
        and x.is_contiguous(memory_format=torch.channels_last)
    ):
        return torch.channels_last
    return torch.contiguous_format


def _check_crop(x: torch.Tensor, padding: int, mode: str) -> None:
    check(x.dim() == 4, f"expected a batch of images (N, C, H, W), got shape {tuple(x.shape)}.")
    check(padding >= 0, f"{padding=} must be >= 0.")
    check(mode in PAD_MODES, f"pad mode {mode!r} is not one of {PAD_MODES}.")
    if mode == "reflect":
        check(
            padding < min(x.shape[-2:]),
            f"reflect padding {padding} needs images larger than it, got {tuple(x.shape[-2:])}.",
            hint="Use a smaller padding or pad_mode='zeros'.",
        )


def crop_flip(
    x: torch.Tensor,
    dy: torch.Tensor,
    dx: torch.Tensor,
    flip: torch.Tensor | None,
    *,
    padding: int,
    mode: str = "reflect",
) -> torch.Tensor:
    """Random crop (offsets ``dy, dx ∈ [-padding, padding]`` per sample) fused with an
    optional horizontal flip (bool mask per sample), as one gather.

    Equal to ``hflip(random_crop(x, dy, dx, padding=padding, mode=mode), flip)``.
    """
    _check_crop(x, padding, mode)
    n, c, h, w = x.shape
    rows, row_ok = _source_index(dy.to(x.device), h, padding, mode, None)
    cols, col_ok = _source_index(dx.to(x.device), w, padding, mode, flip)
    # One gather over the flattened image: out[n, c, i, j] = x[n, c, rows[n, i], cols[n, j]].
    # (Measured ~6x faster on CPU than advanced indexing with four index tensors.)
    flat = (rows[:, :, None] * w + cols[:, None, :]).view(n, 1, h * w).expand(n, c, h * w)
    out = x.reshape(n, c, h * w).gather(2, flat).view(n, c, h, w)
    if row_ok is not None and col_ok is not None:
        outside = ~(row_ok[:, None, :, None] & col_ok[:, None, None, :])
        out = torch.where(outside, torch.zeros((), dtype=x.dtype, device=x.device), out)
    return out.contiguous(memory_format=_memory_format(x))


def random_crop(
    x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, *, padding: int, mode: str = "reflect"
) -> torch.Tensor:
    """The ``H×W`` window at offset ``(padding + dy, padding + dx)`` of ``x`` padded by
    ``padding`` on every side (see module docstring)."""
    return crop_flip(x, dy, dx, None, padding=padding, mode=mode)


def hflip(x: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Mirror left-right the samples where the bool mask ``flip`` (shape ``(N,)``) is true."""
    return torch.where(flip.to(x.device).view(-1, *([1] * (x.dim() - 1))), x.flip(-1), x)


def cutout_mask(
    y0: torch.Tensor, x0: torch.Tensor, size: int, height: int, width: int
) -> torch.Tensor:
    """Bool mask ``(N, 1, H, W)``: true on the ``size×size`` squares whose top-left corners are
    ``(y0[n, k], x0[n, k])`` (``y0``, ``x0`` of shape ``(N, holes)``)."""
    rows = torch.arange(height, device=y0.device)
    cols = torch.arange(width, device=x0.device)
    in_rows = (rows >= y0[..., None]) & (rows < y0[..., None] + size)  # (N, K, H)
    in_cols = (cols >= x0[..., None]) & (cols < x0[..., None] + size)  # (N, K, W)
    if in_rows.shape[1] == 1:
        return in_rows[:, :, :, None] & in_cols[:, :, None, :]
    return (in_rows[..., :, None] & in_cols[..., None, :]).any(dim=1, keepdim=True)


def cutout(x: torch.Tensor, y0: torch.Tensor, x0: torch.Tensor, size: int) -> torch.Tensor:
    """Zero the ``size×size`` patches with top-left corners ``(y0, x0)`` (shape ``(N,)`` or
    ``(N, holes)``) in every channel."""
    if y0.dim() == 1:
        y0, x0 = y0[:, None], x0[:, None]
    mask = cutout_mask(y0.to(x.device), x0.to(x.device), size, x.shape[-2], x.shape[-1])
    # torch.where, not masked_fill: ~3x faster on CPU with a mask broadcast over channels.
    return torch.where(mask, torch.zeros((), dtype=x.dtype, device=x.device), x)


def rotate(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate each image counter-clockwise by ``degrees[n]`` about its centre (nearest
    neighbour, zeros where the rotated image leaves the frame) — torchvision's
    ``RandomRotation`` defaults, on the whole batch with one ``affine_grid`` +
    ``grid_sample``. The output pixel at ``p`` (normalised coordinates, origin at the
    centre) reads the input at ``R(θ) p``. Integer batches are sampled as float and cast
    back (nearest sampling copies values, so nothing is rounded). In lrlab's pipeline it
    runs after normalisation, so the corners are filled with the mean colour, where
    torchvision (rotating before ``Normalize``) fills them black."""
    check(x.dim() == 4, f"expected a batch of images (N, C, H, W), got shape {tuple(x.shape)}.")
    t = torch.deg2rad(degrees.to(device=x.device, dtype=torch.float32))
    cos, sin, zero = t.cos(), t.sin(), torch.zeros_like(t)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    work = x if x.is_floating_point() else x.float()
    grid = F.affine_grid(theta.to(work.dtype), list(work.shape), align_corners=False)
    out = F.grid_sample(work, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return out if x.is_floating_point() else out.to(x.dtype)


@dataclass(frozen=True)
class Normalize:
    """``x → (x / scale - mean) / std`` per channel, as float (the deterministic transform of
    image tasks, applied to train and eval batches alike).

    ``scale`` is 255 for uint8 images (``ToTensor``'s convention), 1 for float data.
    ``memory_format=torch.channels_last`` lays the batch out NHWC for convolution kernels
    that prefer it (CUDA with tensor cores).
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    scale: float = 255.0
    dtype: torch.dtype = torch.float32
    memory_format: torch.memory_format | None = None

    def __post_init__(self) -> None:
        check(
            len(self.mean) == len(self.std),
            f"mean {self.mean} and std {self.std} need one value per channel each.",
        )
        check(all(s > 0 for s in self.std), f"std {self.std} must be positive.")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        mean = torch.tensor(self.mean, dtype=self.dtype, device=x.device).view(shape)
        std = torch.tensor(self.std, dtype=self.dtype, device=x.device).view(shape)
        out = (x.to(self.dtype) / self.scale - mean) / std
        if self.memory_format is not None and out.dim() == 4:
            out = out.contiguous(memory_format=self.memory_format)
        return out

    @classmethod
    def fit(cls, x: torch.Tensor, *, scale: float | None = None, **kwargs) -> Normalize:
        """Per-channel mean and std of ``x`` (N, C, ...) after dividing by ``scale`` (255 for
        uint8, else 1), computed in float64 in chunks (CIFAR-10 train → 0.4914, 0.4822, 0.4465
        and 0.2470, 0.2435, 0.2616)."""
        if scale is None:
            scale = 255.0 if x.dtype == torch.uint8 else 1.0
        c = x.shape[1]
        total = torch.zeros(c, dtype=torch.float64)
        total_sq = torch.zeros(c, dtype=torch.float64)
        count = 0
        for chunk in x.split(4096):
            v = chunk.to(torch.float64).transpose(0, 1).reshape(c, -1) / scale
            total += v.sum(1).cpu()
            total_sq += (v * v).sum(1).cpu()
            count += v.shape[1]
        check(count > 0, "cannot compute normalisation statistics of an empty dataset.")
        mean = total / count
        std = (total_sq / count - mean**2).clamp_min(0).sqrt().clamp_min(1e-8)
        return cls(tuple(mean.tolist()), tuple(std.tolist()), scale=scale, **kwargs)


@dataclass(frozen=True)
class ImageAugment:
    """Crop with padding → horizontal flip → rotation → cutout, on whole batches.

    ``padding`` (pixels, 0 = no crop), ``pad_mode`` (``"reflect"`` or ``"zeros"``), ``flip``
    (probability 1/2 per sample when true), ``rotate`` (maximum angle in degrees, angles
    uniform in ``[-rotate, rotate]``; 0 = off; seed 003's ``RandomRotation(10)``),
    ``cutout`` (side of the square, 0 = off) and ``cutout_holes`` (squares per image).
    Random parameters for ``n`` samples come from :meth:`sample` (seeded CPU generator, so
    results do not depend on the device); the loader draws them once per epoch and slices
    them per batch.
    """

    padding: int = 4
    pad_mode: str = "reflect"
    flip: bool = True
    cutout: int = 0
    cutout_holes: int = 1
    rotate: float = 0.0

    def __post_init__(self) -> None:
        check(self.padding >= 0, f"padding={self.padding} must be >= 0.")
        check(self.pad_mode in PAD_MODES, f"pad_mode={self.pad_mode!r} is not one of {PAD_MODES}.")
        check(self.cutout >= 0, f"cutout={self.cutout} must be >= 0 (0 turns it off).")
        check(self.cutout_holes >= 1, f"cutout_holes={self.cutout_holes} must be >= 1.")
        check(0 <= self.rotate <= 180, f"rotate={self.rotate} must be in [0, 180] degrees.")

    def sample(
        self, n: int, height: int, width: int, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        """Random parameters for ``n`` images of size ``height×width`` (CPU tensors)."""
        if self.cutout > min(height, width):
            raise InvalidArgument(
                f"cutout={self.cutout} is larger than the images ({height}×{width}).",
                hint="Use a smaller cutout size.",
            )
        p = self.padding
        params = {
            "dy": torch.randint(-p, p + 1, (n,), generator=generator),
            "dx": torch.randint(-p, p + 1, (n,), generator=generator),
            "flip": torch.rand(n, generator=generator) < 0.5,
        }
        if self.cutout:
            k, s = self.cutout_holes, self.cutout
            params["y0"] = torch.randint(0, height - s + 1, (n, k), generator=generator)
            params["x0"] = torch.randint(0, width - s + 1, (n, k), generator=generator)
        if self.rotate:  # drawn last: adding rotation leaves the other streams unchanged
            params["angle"] = (torch.rand(n, generator=generator) * 2 - 1) * self.rotate
        return params

    def __call__(self, x: torch.Tensor, params: Mapping[str, torch.Tensor]) -> torch.Tensor:
        flip = params["flip"] if self.flip else None
        if self.padding or flip is not None:
            x = crop_flip(
                x, params["dy"], params["dx"], flip, padding=self.padding, mode=self.pad_mode
            )
        if self.rotate:
            x = rotate(x, params["angle"])
        if self.cutout:
            x = cutout(x, params["y0"], params["x0"], self.cutout)
        return x
