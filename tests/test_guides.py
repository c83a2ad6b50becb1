"""Guide channels of the guided RFR-Net (``rfr_inpaint.guides``) and their use by ``RFRInpainter``: channel layout,
clamped neighbours at a volume's first / last slice and for a lone 2-D image, the slab ``inpaint_volume`` gives a
guided inpainter, and ``inpaint_slices`` for unrelated images. On the committed real CT slices."""

from __future__ import annotations

import numpy as np
import pytest
from _variant_helpers import box_hole, perturb, real_ct_01, single_thread
from rfr_inpaint.baselines import (
    Biharmonic3DInpainter,
    BiharmonicInpainter,
    SelfTunedBiharmonic3DInpainter,
    SpacedBiharmonic3DInpainter,
)
from rfr_inpaint.guides import (
    PRIOR_CONTEXT_SLICES,
    neighbour_offsets,
    prior_fill,
    prior_fill_2d,
    prior_inpainter,
    prior_spacing_option,
    slice_guide,
)
from rfr_inpaint.inference import RFRInpainter
from rfr_inpaint.networks import RFRNet
from rfr_inpaint.networks.rfrnet import guide_channels
from rfr_inpaint.transforms.intensity import CTWindow
from rfr_inpaint.volume import inpaint_volume


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with single_thread():
        yield


@pytest.fixture(scope="module")
def stack() -> tuple[np.ndarray, np.ndarray]:
    """5 consecutive real slices (32 x 32, [0, 1]) with a different hole in each."""
    images = real_ct_01()[1:6, 80:112, 70:102].copy()
    holes = box_hole(
        images.shape, (0, 1, 4, 10, 4, 12), (1, 2, 10, 20, 8, 14), (2, 4, 12, 22, 12, 24), (4, 5, 20, 28, 2, 30)
    )
    return images, holes


def _guided(prior: bool, context: int, seed: int = 0) -> RFRNet:
    return perturb(RFRNet(width=8, num_recurrences=1, prior=prior, context_slices=context), seed=seed).eval()


def test_neighbour_offsets_are_nearest_first():
    assert neighbour_offsets(0) == []
    assert neighbour_offsets(1) == [-1, 1]
    assert neighbour_offsets(2) == [-1, 1, -2, 2]
    assert neighbour_offsets(3) == [-1, 1, -2, 2, -3, 3]


def test_prior_fill_keeps_known_voxels_and_is_the_biharmonic_fill(stack):
    images, holes = stack
    filled = prior_fill(images, holes)
    assert filled.dtype == np.float32 and np.array_equal(filled[~holes], images[~holes])
    assert np.array_equal(filled, Biharmonic3DInpainter()(images, holes))
    assert np.array_equal(prior_fill(images, holes, consecutive=False), BiharmonicInpainter()(images, holes))
    assert not np.array_equal(filled[holes], prior_fill(images, holes, consecutive=False)[holes])


@pytest.mark.parametrize(("prior", "context"), [(True, 0), (True, 2), (False, 1), (False, 2)])
def test_slice_guide_channel_layout(stack, prior, context):
    images, holes = stack
    filled = prior_fill(images, holes)
    guide = slice_guide(filled, holes, 2, prior, context)
    expected = [filled[2], prior_fill_2d(filled[2], holes[2])] if prior else []
    expected.append(holes[2])
    for offset in neighbour_offsets(context):
        expected += [filled[2 + offset], holes[2 + offset]]
    assert guide.dtype == np.float32 and guide.shape == (guide_channels(prior, context), 32, 32)
    assert np.array_equal(guide, np.stack(expected).astype(np.float32))
    if prior:  # the 2-D prior (the slice alone) differs from the 3-D one, so the two channels are not swapped
        assert np.array_equal(guide[1], BiharmonicInpainter()(images[2], holes[2]))
        assert not np.array_equal(guide[0], guide[1])


@pytest.mark.parametrize(
    ("index", "context", "neighbours"),
    [(0, 2, [0, 1, 0, 2]), (4, 2, [3, 4, 2, 4]), (1, 2, [0, 2, 0, 3]), (2, 3, [1, 3, 0, 4, 0, 4])],
    ids=["first", "last", "second", "wider-than-stack"],
)
def test_neighbours_beyond_the_stack_are_clamped(stack, index, context, neighbours):
    images, holes = stack
    filled = prior_fill(images, holes)
    guide = slice_guide(filled, holes, index, True, context)
    for k, j in enumerate(neighbours):
        assert np.array_equal(guide[3 + 2 * k], filled[j]), (k, j)
        assert np.array_equal(guide[4 + 2 * k], holes[j]), (k, j)


def test_a_lone_image_is_its_own_neighbour_and_its_3d_prior_is_the_2d_one(stack):
    images, holes = stack
    image, hole = images[2:3], holes[2:3]
    filled = prior_fill(image, hole)
    assert np.array_equal(filled, prior_fill(image, hole, consecutive=False))
    assert np.array_equal(filled[0], prior_fill_2d(image[0], hole[0]))
    guide = slice_guide(filled, hole, 0, True, 2)
    assert np.array_equal(guide[0], guide[1])
    for k in range(4):
        assert np.array_equal(guide[3 + 2 * k], filled[0]) and np.array_equal(guide[4 + 2 * k], hole[0])


@pytest.mark.parametrize(
    ("prior", "context", "reach"),
    [
        (False, 0, 0),
        (True, 0, PRIOR_CONTEXT_SLICES),
        (False, 1, PRIOR_CONTEXT_SLICES),
        (True, 2, 2),
        (False, 3, 3),
        (True, 4, 4),
    ],
)
def test_inpainter_context_slices(prior, context, reach):
    inpainter = RFRInpainter(RFRNet(width=8, num_recurrences=1, prior=prior, context_slices=context), device="cpu")
    assert inpainter.guided is inpainter.volumetric is bool(prior or context)
    assert inpainter.context_slices == reach
    assert PRIOR_CONTEXT_SLICES == Biharmonic3DInpainter.context_slices == 2


class _SpyInpainter(RFRInpainter):
    """Records the stacks ``inpaint_volume`` gives it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[np.ndarray] = []

    def __call__(self, images, holes, spacing=None):
        self.calls.append(np.array(images))
        return super().__call__(images, holes, spacing=spacing)


# (prior, context): without a prior channel the neighbours' holes still come filled by the 3-D prior, which reads
# two slices beyond them: the slab must hold those too.
@pytest.mark.parametrize(("prior", "context"), [(False, 1), (True, 2)])
def test_inpaint_volume_gives_a_guided_inpainter_its_slab_with_context(prior, context):
    volume = real_ct_01()[:, 60:124, 60:124].copy()
    hole = box_hole(volume.shape, (3, 5, 20, 34, 24, 40), (4, 5, 40, 50, 10, 22))
    spy = _SpyInpainter(_guided(prior, context), device="cpu")
    identity = CTWindow(a_min=0.0, a_max=1.0)  # the slab the inpainter sees is then the volume's own slices
    result, _ = inpaint_volume(volume, hole, spy, margin_mm=0, intensity=identity)
    reach = spy.context_slices
    assert len(spy.calls) == 1
    assert np.array_equal(spy.calls[0], volume[3 - reach : 5 + reach])  # first hole slice - reach .. last + reach
    whole = spy(volume, hole)
    assert np.array_equal(result, whole)  # the slab holds everything the network reads
    assert np.array_equal(result[~hole], volume[~hole]) and not np.array_equal(result[hole], volume[hole])


@pytest.mark.parametrize("edge", [0, 7], ids=["first-slice", "last-slice"])
def test_guides_at_the_volume_edges_reach_the_network(edge):
    volume = real_ct_01()[:, 60:124, 60:124].copy()
    hole = box_hole(volume.shape, (edge, edge + 1, 20, 34, 24, 40))
    inpainter = RFRInpainter(_guided(True, 2), device="cpu", mode="full")
    seen = []
    inpainter.network.register_forward_pre_hook(lambda _m, args: seen.append(args[2].detach().clone()))
    result, _ = inpaint_volume(volume, hole, inpainter, margin_mm=0, intensity=CTWindow(a_min=0.0, a_max=1.0))
    slab = slice(max(edge - 2, 0), min(edge + 3, 8))
    images, holes = volume[slab], hole[slab]
    index = edge - slab.start
    expected = slice_guide(prior_fill(images, holes), holes, index, True, 2)
    assert len(seen) == 1 and seen[0].shape == (1, 11, 64, 64)
    assert np.array_equal(seen[0][0].numpy(), expected)
    inside = {0: [0, 1, 0, 2], 7: [1, 2, 0, 2]}[edge]  # the slab's slices of neighbours -1, +1, -2, +2
    for k, j in enumerate(inside):
        assert np.array_equal(expected[3 + 2 * k], prior_fill(images, holes)[j])
    assert np.isfinite(result).all()


def test_inpaint_slices_treats_images_independently():
    volume = real_ct_01()[:, 60:124, 60:124]
    images = volume[[0, 3, 7]].copy()  # unrelated slices, not neighbours
    holes = box_hole(images.shape, (0, 1, 10, 30, 10, 30), (1, 2, 30, 50, 20, 44), (2, 3, 5, 20, 40, 60))
    inpainter = RFRInpainter(_guided(True, 1), device="cpu")
    together = inpainter.inpaint_slices(images, holes)
    alone = np.concatenate([inpainter(images[i : i + 1], holes[i : i + 1]) for i in range(3)])
    assert np.array_equal(together, alone)
    assert np.array_equal(together[~holes], images[~holes])
    # as consecutive slices the stack would give each image its unrelated neighbours and a 3-D prior across them
    assert not np.allclose(together, inpainter(images, holes), atol=1e-3)
    plain = RFRInpainter(perturb(RFRNet(width=8, num_recurrences=1)).eval(), device="cpu")
    assert np.array_equal(plain.inpaint_slices(images, holes), plain(images, holes))
    with pytest.raises(ValueError, match="one shape"):
        inpainter.inpaint_slices(images, holes[:2])


def test_prior_fill_with_spacing_is_biharmonic3d_mm(stack):
    from rfr_inpaint.baselines import SpacedBiharmonic3DInpainter

    images, holes = stack
    spacing = (2.5, 0.7, 0.7)
    spaced = prior_fill(images, holes, spacing=spacing, spacing_exponent=1.0)
    assert np.array_equal(spaced, SpacedBiharmonic3DInpainter(spacing_exponent=1.0)(images, holes, spacing=spacing))
    assert not np.array_equal(spaced, prior_fill(images, holes))
    # exponent 0, or no spacing: biharmonic3d; independent images: 2-D, whatever the spacing
    assert np.array_equal(prior_fill(images, holes, spacing=spacing), prior_fill(images, holes))
    assert np.array_equal(prior_fill(images, holes, spacing_exponent=1.0), prior_fill(images, holes))
    flat = prior_fill(images, holes, consecutive=False, spacing=spacing, spacing_exponent=1.0)
    assert np.array_equal(flat, BiharmonicInpainter()(images, holes))


def test_prior_spacing_options_name_their_inpainter(stack):
    images, holes = stack
    spacing = (2.5, 0.7, 0.7)
    auto = prior_fill(images, holes, spacing=spacing, spacing_exponent="auto")
    tuned = SelfTunedBiharmonic3DInpainter()
    assert np.array_equal(auto, tuned(images, holes, spacing=spacing)) and tuned.last_exponent is not None
    assert np.array_equal(prior_fill(images, holes, spacing_exponent="auto"), prior_fill(images, holes))  # unspaced
    assert type(prior_inpainter(0)) is Biharmonic3DInpainter
    assert type(prior_inpainter(0.5)) is SpacedBiharmonic3DInpainter and prior_inpainter(0.5).spacing_exponent == 0.5
    assert type(prior_inpainter(" Auto ")) is SelfTunedBiharmonic3DInpainter
    assert prior_spacing_option("auto") == "auto" and prior_spacing_option(2) == 2.0
    for bad in (-1.0, "best", float("nan"), [1.0]):
        with pytest.raises(ValueError, match="prior_spacing_exponent must be a number >= 0 or 'auto'"):
            prior_spacing_option(bad)


def test_untrained_network_with_a_spaced_prior_is_biharmonic3d_mm_on_a_real_volume():
    from _variant_helpers import real_ct

    from rfr_inpaint.inpainters import get_inpainter

    hu, spacing = real_ct()  # int16 HU, 2.5 mm slices
    hole = box_hole(hu.shape, (2, 4, 60, 76, 70, 78), (5, 6, 100, 130, 40, 46))
    results = {}
    for exponent in (0.0, 1.0, "auto"):
        net = RFRNet(width=8, num_recurrences=1, prior=True, context_slices=2, prior_spacing_exponent=exponent).eval()
        inpainter = RFRInpainter(net, device="cpu")
        assert inpainter.uses_spacing and inpainter.volumetric
        results[exponent], _ = inpaint_volume(hu, hole, inpainter, spacing=spacing, margin_mm=0.0)
    expected = {
        0.0: inpaint_volume(hu, hole, get_inpainter("biharmonic3d"), spacing=spacing, margin_mm=0.0)[0],
        1.0: inpaint_volume(hu, hole, get_inpainter("biharmonic3d_mm"), spacing=spacing, margin_mm=0.0)[0],
        "auto": inpaint_volume(hu, hole, get_inpainter("biharmonic3d_auto"), spacing=spacing, margin_mm=0.0)[0],
    }
    for exponent, result in results.items():
        assert np.abs(result.astype(np.int32) - expected[exponent]).max() <= 1  # the prior, to HU rounding
    assert np.abs(results[1.0].astype(np.int32) - results[0.0]).max() > 5  # the recipe reached the prior
