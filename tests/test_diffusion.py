"""Diffusion from local weights, on a tiny Stable Diffusion pipeline built here.

The pipeline is assembled from diffusers/transformers configs with random weights
(a two-block UNet, a two-block VAE that shrinks by 2, a two-layer CLIP text
encoder and a CLIP tokenizer over a 54-token vocabulary written here), saved with
``save_pretrained`` to a temporary folder: no download, and a run of two steps on
64 x 64 pixels takes a moment. Random weights paint noise, so the tests check
what the editor promises around the model (sizes, seeds, masks, cancel, refusals,
offline loading), not what the pictures show.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import load_photo

from editor.core.context import Cancelled, OpContext, OpError
from editor.ops import get_op, run_op
from editor.ops.ai import diffusion

ROOT = Path(__file__).resolve().parents[1]



def assert_same_painting(a: np.ndarray, b: np.ndarray, what: str = "") -> None:
    """The same weights painted both: equal up to float rounding. A single-file
    checkpoint's tensors are equal bit for bit (``round_trip``) but may be laid out
    otherwise, and oneDNN's kernels then sum in another order: on one CPU without
    AVX-512 one value in 12,288 came out one level off. Other weights differ by tens
    of levels nearly everywhere."""
    diff = np.abs(a.astype(np.int16) - b)
    assert a.shape == b.shape and diff.max() <= 1, (what, int(diff.max()))
    assert np.count_nonzero(diff) <= max(1, diff.size // 1000), (what, np.count_nonzero(diff))

def build_tiny_pipeline(folder: Path, scheduler: str = "DDIMScheduler",
                        unet_in: int = 4) -> Path:
    """A random-weight SD1-shaped pipeline saved as a diffusers folder in ``folder``."""
    diffusion.import_diffusers()  # offline flags first
    import diffusers
    import torch
    from transformers import CLIPTextModel

    torch.manual_seed(0)
    unet = diffusers.UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=unet_in,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
        norm_num_groups=32)
    vae = _tiny_vae()
    tokenizer = _tiny_tokenizer(folder)
    text_encoder = CLIPTextModel(_tiny_clip_config(32))
    sched = _tiny_scheduler(scheduler)
    cls = diffusers.StableDiffusionInpaintPipeline if unet_in == 9 else \
        diffusers.StableDiffusionPipeline
    pipe = cls(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
               scheduler=sched, safety_checker=None, feature_extractor=None,
               requires_safety_checker=False)
    pipe.save_pretrained(str(folder))
    return folder


def _tiny_tokenizer(folder: Path):
    """A CLIP tokenizer over the 54 tokens of single letters (written beside ``folder``)."""
    from transformers import CLIPTokenizer

    letters = "abcdefghijklmnopqrstuvwxyz"
    tokens = ["<|startoftext|>", "<|endoftext|>"] + list(letters) + [c + "</w>" for c in letters]
    tok_dir = folder.parent / (folder.name + "-vocab")
    tok_dir.mkdir(parents=True, exist_ok=True)
    (tok_dir / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (tok_dir / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"),
                         model_max_length=77)


def _tiny_clip_config(width: int, **kw):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=width,
                          intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                          vocab_size=54, max_position_embeddings=77, **kw)


def _tiny_scheduler(name: str):
    import diffusers

    return getattr(diffusers, name)(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
        **({"clip_sample": False, "set_alpha_to_one": False} if name == "DDIMScheduler" else {}))


def _tiny_vae():
    import diffusers

    return diffusers.AutoencoderKL(
        block_out_channels=[32, 64], in_channels=3, out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4, norm_num_groups=32)


def build_tiny_sdxl(folder: Path) -> Path:
    """A random-weight SDXL-shaped pipeline (two text encoders, size conditioning).

    The two text encoders are 32 and 48 wide (SDXL's are 768 and 1280): diffusers tells
    them apart in a single file by width, so they must differ as in the real model.
    """
    diffusion.import_diffusers()
    import diffusers
    import torch
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    unet = diffusers.UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
        use_linear_projection=True, transformer_layers_per_block=(1, 2),
        addition_embed_type="text_time", addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=48 + 6 * 8, cross_attention_dim=32 + 48,
        norm_num_groups=32)
    tokenizer = _tiny_tokenizer(folder)
    pipe = diffusers.StableDiffusionXLPipeline(
        unet=unet, vae=_tiny_vae(), text_encoder=CLIPTextModel(_tiny_clip_config(32)),
        text_encoder_2=CLIPTextModelWithProjection(_tiny_clip_config(48, projection_dim=48)),
        tokenizer=tokenizer, tokenizer_2=tokenizer,
        scheduler=_tiny_scheduler("EulerDiscreteScheduler"))
    pipe.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    # one per module: the step-time measurements carry over between tests, as for a user
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _own_cache(cache, tmp_path, monkeypatch):
    # hashes, step timings and the model store go to temporary folders, not the user's
    monkeypatch.setenv("CONVOLVE_CACHE", str(cache))
    monkeypatch.setenv("CONVOLVE_MODELS_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("CONVOLVE_DEVICE", "cpu")
    yield
    diffusion.unload()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny_pipeline(tmp_path_factory.mktemp("sd") / "tiny-sd")


def params(tiny: Path, **kw) -> dict:
    # guidance 0: one UNet pass per step instead of two (the tests check plumbing)
    base = dict(prompt="a red cat", model=str(tiny), steps=2, seed=1, guidance=0.0)
    base.update(kw)
    return base


def gen(tiny: Path, **kw) -> dict:
    """``generate``'s parameters for a 64 x 64 picture."""
    return params(tiny, **{"width": 64, "height": 64, **kw})


def blank(w: int = 64, h: int = 64) -> np.ndarray:
    return np.zeros((h, w, 3), np.uint8)


def photo(w: int = 96, h: int = 64) -> np.ndarray:
    import cv2

    return np.ascontiguousarray(cv2.resize(load_photo("astronaut.png"), (w, h),
                                           interpolation=cv2.INTER_AREA))


# -- what a model is --------------------------------------------------------------------

def test_detect_a_diffusers_folder(tiny):
    model = diffusion.describe_diffusion(tiny)
    assert model.kind == "diffusion" and model.variant == "SD1"
    assert model.pipeline == "StableDiffusionPipeline" and not model.inpainting
    assert len(model.sha256) == 64 and model.size > 100_000
    assert diffusion.detect(tiny).sha256 == model.sha256  # the store's row
    # the hash covers the weights, not only model_index.json
    copy = tiny.parent / "changed"
    shutil.copytree(tiny, copy)
    with open(copy / "vae" / "diffusion_pytorch_model.safetensors", "r+b") as f:
        f.seek(-4, os.SEEK_END)
        f.write(b"\x00\x01\x02\x03")
    assert diffusion.describe_diffusion(copy).sha256 != model.sha256


def test_variants_from_configs(tmp_path):
    def folder(name, index, unet, sched):
        d = tmp_path / name
        (d / "unet").mkdir(parents=True)
        (d / "scheduler").mkdir()
        (d / "model_index.json").write_text(json.dumps(index))
        (d / "unet" / "config.json").write_text(json.dumps(unet))
        (d / "scheduler" / "scheduler_config.json").write_text(json.dumps(sched))
        return diffusion.describe_diffusion(d).variant

    sd = {"_class_name": "StableDiffusionPipeline"}
    xl = {"_class_name": "StableDiffusionXLPipeline"}
    assert folder("sd15", sd, {"cross_attention_dim": 768}, {}) == "SD1"
    assert folder("sd21", sd, {"cross_attention_dim": 1024}, {}) == "SD2"
    assert folder("sdxl", xl, {"cross_attention_dim": 2048,
                               "addition_embed_type": "text_time"}, {}) == "SDXL"
    assert folder("sdxl-turbo", xl, {"cross_attention_dim": 2048}, {}) == "Turbo"
    assert folder("lcm", sd, {"time_cond_proj_dim": 256}, {}) == "LCM"
    assert folder("dream", sd, {}, {"_class_name": "LCMScheduler"}) == "LCM"


def test_not_a_diffusion_model(tmp_path):
    (tmp_path / "photos").mkdir()
    assert diffusion.describe_diffusion(tmp_path / "photos") is None
    from PIL import Image

    Image.fromarray(photo()).save(tmp_path / "p.png")
    assert diffusion.describe_diffusion(tmp_path / "p.png") is None
    from safetensors.numpy import save_file

    save_file({"conv.weight": np.zeros((4, 3, 3, 3), np.float32)},
              str(tmp_path / "upscaler.safetensors"))
    assert diffusion.describe_diffusion(tmp_path / "upscaler.safetensors") is None


def test_single_file_checkpoint_needs_its_config(tmp_path, tiny):
    from safetensors.numpy import save_file

    ckpt = tmp_path / "dream.safetensors"
    save_file({"model.diffusion_model.input_blocks.0.0.weight": np.zeros((4, 4), np.float32),
               "cond_stage_model.transformer.x": np.zeros(2, np.float32)}, str(ckpt))
    with pytest.raises(OpError, match="config folder") as e:
        diffusion.describe_diffusion(ckpt)
    assert "\n" not in str(e.value)
    model = diffusion.describe_diffusion(ckpt, config=tiny)
    assert (model.variant, model.config, model.path) == ("SD1", str(tiny.resolve()),
                                                        str(ckpt.resolve()))
    assert model.sha256 == __import__("hashlib").sha256(ckpt.read_bytes()).hexdigest()


def test_pickled_checkpoint_refused(tmp_path):
    ckpt = tmp_path / "v1-5-pruned.ckpt"
    ckpt.write_bytes(b"\x80\x04not read")
    assert diffusion.describe_diffusion(ckpt) is None  # never opened
    with pytest.raises(OpError, match="pickle") as e:
        diffusion.resolve_model(str(ckpt))
    assert "\n" not in str(e.value)


def test_model_store_adds_and_runs_a_diffusion_folder(tiny, tmp_path, capsys):
    from editor.cli import main
    from editor.ops.ai import model_store as ms

    entry = ms.add(tiny, name="tiny")
    assert (entry.kind, entry.extra["variant"]) == ("diffusion", "SD1")
    # the store's folder hash and the op's are the same number
    assert entry.sha256 == diffusion.describe_diffusion(tiny).sha256 == ms.sha256_path(tiny)
    assert [e.name for e in diffusion.store_models()] == ["tiny"]
    out = run_op(get_op("generate"), blank(), gen(tiny, model="tiny",
                                                      model_sha256=entry.sha256))
    assert out.shape == (64, 64, 3)
    # `convolve models --add DIR` goes through the same detector
    second = tmp_path / "second"
    shutil.copytree(tiny, second)
    assert main(["models", "--add", str(second), "--name", "sd-copy"]) == 0
    capsys.readouterr()
    assert main(["models", "--json", "--no-hash"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"tiny", "sd-copy"} <= {r["name"] for r in rows if r["kind"] == "diffusion"}


def test_model_store_single_file_needs_config_beside_it(tiny, single, tmp_path):
    from safetensors.numpy import save_file

    from editor.ops.ai import model_store as ms

    ckpt = tmp_path / "dream.safetensors"
    save_file({"model.diffusion_model.input_blocks.0.0.weight": np.zeros((4, 4), np.float32),
               "conditioner.embedders.1.model.x": np.zeros(2, np.float32)}, str(ckpt))
    with pytest.raises(ms.ModelRefused, match="dream-config/") as e:
        ms.add(ckpt)
    assert "\n" not in str(e.value)
    shutil.copytree(tiny, tmp_path / "dream-config")
    assert diffusion.describe_diffusion(ckpt, tmp_path / "dream-config").variant == "SDXL"
    # two made-up tensors are no SD model for that config: refused, not added
    with pytest.raises(ms.ModelRefused, match="does not fit the config folder dream-config"):
        ms.add(ckpt)
    shutil.copy(single, ckpt)  # the tiny pipeline's own tensors in the original layout
    entry = ms.add(ckpt)
    assert entry.kind == "diffusion" and entry.extra["variant"] == "SD1"
    assert entry.extra["config"] == str((tmp_path / "dream-config").resolve())



# -- a single-file checkpoint (original layout) with its config folder -------------------

@pytest.fixture(scope="module")
def single(tiny, tmp_path_factory) -> Path:
    """``tiny`` written as one original-layout (CompVis) file with a weightless config
    folder beside it, as a user keeps a downloaded ``.safetensors`` checkpoint."""
    import sd_single_file

    folder = tmp_path_factory.mktemp("single")
    sd_single_file.config_only(tiny, folder / "dream-config")
    return sd_single_file.to_single_file(tiny, folder / "dream.safetensors")


def test_single_file_writer_is_the_inverse_of_diffusers_loader(tiny, single):
    import sd_single_file

    keys = diffusion._checkpoint_keys(single)
    assert any(k.startswith("model.diffusion_model.output_blocks.") for k in keys)
    assert "first_stage_model.decoder.mid.attn_1.q.weight" in keys
    assert "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight" \
        in keys
    # diffusers' own conversion turns every tensor back into the folder's, bit for bit
    assert sd_single_file.round_trip(tiny, single) == {"unet": [], "vae": [],
                                                        "text_encoder": []}


def _refuse_network(monkeypatch):
    def refuse(*_a, **_k):
        raise AssertionError("network call")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_single_file_checkpoint_loads_offline_and_paints_the_same_pixels(
        tiny, single, monkeypatch, capsys):
    from editor.cli import main
    from editor.ops.ai import model_store as ms

    _refuse_network(monkeypatch)
    config = single.parent / "dream-config"
    assert not list(config.rglob("*.safetensors"))  # configs only: the weights are the file's
    model = diffusion.describe_diffusion(single, config=config)
    assert (model.variant, model.config) == ("SD1", str(config.resolve()))
    # `convolve models --add FILE` finds the config folder beside it
    assert main(["models", "--add", str(single)]) == 0
    capsys.readouterr()
    entry = ms.get("dream")
    assert entry.kind == "diffusion" and entry.extra["config"] == str(config.resolve())
    assert entry.sha256 == model.sha256
    # every weight of the loaded pipeline is the folder's
    device, dtype = diffusion.select_device()
    pipe = diffusion._load_base(diffusion.resolve_model("dream"), device, dtype,
                                OpContext())
    from safetensors.torch import load_file

    for part, file in (("unet", "diffusion_pytorch_model"), ("vae", "diffusion_pytorch_model"),
                       ("text_encoder", "model")):
        want = load_file(str(tiny / part / f"{file}.safetensors"))
        got = getattr(pipe, part).state_dict()
        assert set(want) <= set(got), part
        assert all(np.array_equal(want[k].numpy(), got[k].numpy()) for k in want), part
    # and the ops paint the same pixels from it as from the diffusers folder
    image = photo()
    mask = np.zeros(image.shape[:2], np.float32)
    mask[16:48, 24:72] = 1
    runs = [("generate", blank(), gen, None), ("img2img", image, params, None),
            ("inpaint_diffusion", image, params, mask)]
    for op, source, kw, selection in runs:
        extra = {} if op == "generate" else {"max_size": 64}
        a = run_op(get_op(op), source, kw(tiny, seed=5, **extra), OpContext(selection=selection))
        b = run_op(get_op(op), source, kw(tiny, model="dream", seed=5,
                                          model_sha256=entry.sha256, **extra),
                   OpContext(selection=selection))
        assert_same_painting(a, b, op)


def test_models_add_with_the_config_folder_given(single, tmp_path, capsys):
    from editor.cli import main
    from editor.ops.ai import model_store as ms

    ckpt = tmp_path / "downloads" / "dreamy.safetensors"
    ckpt.parent.mkdir()
    shutil.copy(single, ckpt)
    # nothing beside it: refused, naming where to put the folder
    assert main(["models", "--add", str(ckpt)]) == 2
    assert "dreamy-config/" in capsys.readouterr().err
    assert main(["models", "--add", str(ckpt), "--config", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a diffusers config folder" in err[0]
    assert main(["models", "--config", str(single.parent / "dream-config")]) == 2
    capsys.readouterr()
    config = single.parent / "dream-config"
    assert main(["models", "--add", str(ckpt), "--config", str(config), "--name", "d2"]) == 0
    capsys.readouterr()
    entry = ms.get("d2")
    assert entry.extra["config"] == str(config.resolve()) and entry.extra["variant"] == "SD1"
    assert diffusion.resolve_model("d2").config == str(config.resolve())
    assert not diffusion._GIVEN_CONFIGS  # only for that one add


def _edited_config(single: Path, name: str, **parts: dict) -> Path:
    """A copy of ``single``'s config folder with some of its configs changed."""
    folder = single.parent / name
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(single.parent / "dream-config", folder)
    for part, changes in parts.items():
        path = folder / part / "config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
    return folder


@pytest.mark.parametrize("case, edit, words", [
    # diffusers loads these two with strict=False: the missing layers stay random, no error
    ("vae-three-blocks", {"vae": {"block_out_channels": [32, 64, 64],
                                  "down_block_types": ["DownEncoderBlock2D"] * 3,
                                  "up_block_types": ["UpDecoderBlock2D"] * 3}},
     "vae tensors are missing from the file"),
    ("clip-three-layers", {"text_encoder": {"num_hidden_layers": 3}},
     "text_encoder tensors are missing from the file"),
    ("unet-wider-text", {"unet": {"cross_attention_dim": 64}},
     "is 64 x 32 in the file but 64 x 64 in unet/config.json"),
])
def test_single_file_with_a_config_that_does_not_fit(single, tmp_path, case, edit, words,
                                                     capsys):
    from editor.cli import main
    from editor.ops.ai import model_store as ms

    config = _edited_config(single, case, **edit)
    # `convolve models --add` refuses it in one sentence and records nothing
    ckpt = tmp_path / f"{case}.safetensors"
    shutil.copy(single, ckpt)
    shutil.copytree(config, tmp_path / f"{case}-config")
    with pytest.raises(ms.ModelRefused, match=words) as e:
        ms.add(ckpt)
    assert _one_sentence(e).startswith(f"{case}.safetensors does not fit the config folder")
    assert main(["models", "--add", str(ckpt)]) != 0
    assert "Traceback" not in capsys.readouterr().err
    assert ms.list_models() == [] or all(m.kind != "diffusion" for m in ms.list_models())
    # given by path, the run refuses before loading, and the picture is kept
    image = photo()
    before = image.copy()
    with pytest.raises(OpError, match=words) as e:
        run_op(get_op("img2img"), image, params(ckpt, max_size=64))
    _one_sentence(e)
    np.testing.assert_array_equal(image, before)


def test_single_file_config_listing_a_safety_checker(single, tiny, monkeypatch):
    # a config folder as Stable Diffusion 1.5's: model_index.json names the safety checker
    # and its feature extractor; a single-file load never reads the checker's weights
    from transformers import CLIPImageProcessor

    _refuse_network(monkeypatch)
    config = _edited_config(single, "sd15-config")
    index = json.loads((config / "model_index.json").read_text())
    index.update(safety_checker=["stable_diffusion", "StableDiffusionSafetyChecker"],
                 feature_extractor=["transformers", "CLIPImageProcessor"],
                 requires_safety_checker=True)
    (config / "model_index.json").write_text(json.dumps(index))
    CLIPImageProcessor(crop_size=224, size=224).save_pretrained(str(config / "feature_extractor"))
    ckpt = config.parent / "sd15.safetensors"
    shutil.copy(single, ckpt)
    model = diffusion.describe_diffusion(ckpt, config=config)
    assert model.variant == "SD1"
    out = run_op(get_op("generate"), blank(), gen(ckpt, seed=5))
    assert_same_painting(out, run_op(get_op("generate"), blank(), gen(tiny, seed=5)))


def test_sd2_layout_single_file_paints_the_same_pixels(tiny, tmp_path, monkeypatch):
    # SD 2.x keeps its text encoder as OpenCLIP (fused q/k/v) under cond_stage_model.model.
    import sd_single_file

    ckpt = sd_single_file.to_single_file(tiny, tmp_path / "sd2.safetensors", open_clip=True)
    assert "cond_stage_model.model.transformer.resblocks.1.attn.in_proj_weight" in \
        diffusion._checkpoint_keys(ckpt)
    assert sd_single_file.round_trip(tiny, ckpt) == {"unet": [], "vae": [], "text_encoder": []}
    sd_single_file.config_only(tiny, tmp_path / "sd2-config")
    _refuse_network(monkeypatch)
    model = diffusion.resolve_model(str(ckpt))
    assert model.variant == "SD2" and model.config == str((tmp_path / "sd2-config").resolve())
    assert_same_painting(run_op(get_op("generate"), blank(), gen(ckpt, seed=4)),
                         run_op(get_op("generate"), blank(), gen(tiny, seed=4)))


def test_inpainting_single_file_paints_the_same_pixels(tmp_path):
    # a dedicated inpainting checkpoint (9 input channels) with its inpainting config folder
    import sd_single_file

    folder = build_tiny_pipeline(tmp_path / "tiny-inpaint", unet_in=9)
    ckpt = sd_single_file.to_single_file(folder, tmp_path / "fill.safetensors")
    sd_single_file.config_only(folder, tmp_path / "fill-config")
    model = diffusion.resolve_model(str(ckpt))
    assert model.inpainting and model.pipeline == "StableDiffusionInpaintPipeline"
    image = photo(64, 64)
    mask = np.zeros((64, 64), np.float32)
    mask[16:48, 16:48] = 1
    a, b = (run_op(get_op("inpaint_diffusion"), image,
                   params(m, prompt="a hat", max_size=64), OpContext(selection=mask))
            for m in (folder, ckpt))
    assert_same_painting(a, b)
    np.testing.assert_array_equal(b[mask == 0], image[mask == 0])


def test_sdxl_single_file_checkpoint_paints_the_same_pixels(tmp_path, tiny, monkeypatch,
                                                             capsys):
    import sd_single_file

    from editor.cli import main
    from editor.ops.ai import model_store as ms

    folder = build_tiny_sdxl(tmp_path / "tiny-xl")
    ckpt = sd_single_file.to_single_file(folder, tmp_path / "xl.safetensors")
    keys = diffusion._checkpoint_keys(ckpt)
    assert any(k.startswith("conditioner.embedders.0.transformer.text_model.") for k in keys)
    assert "conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight" in keys
    assert sd_single_file.round_trip(folder, ckpt) == {
        "unet": [], "vae": [], "text_encoder": [], "text_encoder_2": []}
    # an SDXL file beside an SD 1 config folder: one sentence, nothing added
    sd_single_file.config_only(tiny, tmp_path / "xl-config")
    with pytest.raises(ms.ModelRefused, match="does not fit the config folder xl-config") as e:
        ms.add(ckpt)
    _one_sentence(e)
    assert [m for m in ms.list_models() if m.kind == "diffusion"] == []
    shutil.rmtree(tmp_path / "xl-config")
    sd_single_file.config_only(folder, tmp_path / "xl-config")
    _refuse_network(monkeypatch)
    assert main(["models", "--add", str(ckpt), "--name", "xl"]) == 0
    capsys.readouterr()
    entry = ms.get("xl")
    assert entry.extra["variant"] == "SDXL"
    assert entry.extra["pipeline"] == "StableDiffusionXLPipeline"
    image = photo()
    for op, source, kw in (("generate", blank(), gen), ("img2img", image, params)):
        extra = {} if op == "generate" else {"max_size": 64}
        a = run_op(get_op(op), source, kw(folder, seed=3, **extra))
        b = run_op(get_op(op), source, kw(folder, model="xl", seed=3, **extra))
        assert a.std() > 1
        assert_same_painting(a, b, op)

# -- text to image ----------------------------------------------------------------------

def test_generate_with_progress_estimate_and_previews(tiny):
    messages, previews = [], []
    ctx = OpContext(progress=lambda f, m: messages.append((f, m)), partial=previews.append)
    out = run_op(get_op("generate"), blank(), gen(tiny, steps=4, width=80, height=64), ctx)
    assert out.shape == (64, 80, 3) and out.dtype == np.uint8
    assert out.std() > 1  # a picture, not a constant
    texts = [m for _, m in messages]
    estimate = next(i for i, t in enumerate(texts) if "per step" in t)
    assert "about" in texts[estimate] and "4 steps on the CPU" in texts[estimate]
    assert estimate < next(i for i, t in enumerate(texts) if t.startswith("step 1/"))
    assert [t.split(",")[0] for t in texts if t.startswith("step")] == \
        ["step 1/4", "step 2/4", "step 3/4", "step 4/4"]
    assert messages[-1][0] == 1.0
    # a decoded preview after step 1, 2 and 3 (every quarter), none after the last
    assert len(previews) == 3 and all(p.shape == out.shape for p in previews)
    assert ctx.extras["model"]["sha256"] == diffusion.describe_diffusion(tiny).sha256
    assert ctx.selection_result is None  # a new picture: the old selection is not moved
    # the second run estimates from the first run's measured speed
    messages.clear()
    run_op(get_op("generate"), blank(), gen(tiny, steps=4, width=80, height=64), ctx)
    assert any("as last time" in m for _, m in messages)


def test_same_seed_same_pixels(tiny):
    spec = get_op("generate")
    a = run_op(spec, blank(), gen(tiny, seed=7))
    diffusion.unload()  # a fresh load too gives the same picture
    b = run_op(spec, blank(), gen(tiny, seed=7))
    c = run_op(spec, blank(), gen(tiny, seed=8))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c).mean() > 1


def test_schedulers_and_sizes(tiny):
    spec = get_op("generate")
    for name in ("euler", "euler_a", "dpm++"):
        out = run_op(spec, blank(), gen(tiny, scheduler=name, width=72, height=64))
        assert out.shape == (64, 72, 3)
    # not a multiple of 8: rounded down
    assert run_op(spec, blank(), gen(tiny, width=70, height=67)).shape == (64, 64, 3)
    # 16-bit and grey inputs: the picture comes in the input's dtype
    out16 = run_op(spec, np.zeros((8, 8), np.uint16), params(tiny, width=64, height=64))
    assert out16.dtype == np.uint16 and out16.shape == (64, 64, 3) and out16.max() > 255
    grey = run_op(spec, np.zeros((8, 8), np.uint8), params(tiny, width=64, height=64))
    assert grey.shape == (64, 64, 3)


def test_loading_makes_no_network_call(tiny, monkeypatch):
    def refuse(*_a, **_k):
        raise AssertionError("network call")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    diffusion.unload()
    out = run_op(get_op("generate"), blank(), gen(tiny))
    assert out.shape == (64, 64, 3)
    assert os.environ["HF_HUB_OFFLINE"] == "1"


# -- image to image and inpainting -------------------------------------------------------

def test_img2img_keeps_size_and_follows_strength(tiny):
    image = photo()
    spec = get_op("img2img")
    seen = []
    ctx = OpContext(progress=lambda f, m: seen.append(m))
    weak = run_op(spec, image, params(tiny, strength=0.2, steps=10, max_size=96), ctx)
    assert weak.shape == image.shape and weak.dtype == np.uint8
    # strength 0.2 of a 10-step schedule runs its last 2 steps only
    assert [m.split(",")[0] for m in seen if m.startswith("step")] == ["step 1/2", "step 2/2"]
    strong = run_op(spec, image, params(tiny, strength=1.0, steps=2, max_size=96))
    # random weights cannot show "closer to the photo"; the strength still changes the result
    assert np.abs(weak.astype(int) - strong).mean() > 1
    np.testing.assert_array_equal(
        weak, run_op(spec, image, params(tiny, strength=0.2, steps=10, max_size=96)))


def test_img2img_alpha_and_grey(tiny):
    image = photo()
    rgba = np.dstack([image, image[..., 0]])
    out = run_op(get_op("img2img"), rgba, params(tiny, max_size=64))
    assert out.shape == rgba.shape
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])
    grey = run_op(get_op("img2img"), image[..., 1].copy(), params(tiny, max_size=64))
    assert grey.shape == image.shape[:2]


def test_inpaint_changes_only_the_selection(tiny):
    image = photo(160, 128)
    mask = np.zeros(image.shape[:2], np.float32)
    mask[40:80, 50:100] = 1.0
    mask[38:40, 50:100] = 0.5  # a soft edge
    raw = diffusion.inpaint_diffusion(image, prompt="a hat", model=str(tiny), steps=2,
                                      guidance=0.0, max_size=64, mask=mask)
    assert raw.shape == image.shape
    rows, cols = diffusion.mask_box(mask, max(16, 128 // 16), mask.shape)
    outside_box = np.ones(mask.shape, bool)
    outside_box[rows, cols] = False
    # outside the box the model never saw, the pixels are the input's exactly
    np.testing.assert_array_equal(raw[outside_box], image[outside_box])
    # through the registry, with the selection as the editor and the CLI pass it
    previews = []
    ctx = OpContext(selection=mask, partial=previews.append)
    final = run_op(get_op("inpaint_diffusion"), image,
                   params(tiny, prompt="a hat", max_size=64, steps=4), ctx)
    np.testing.assert_array_equal(final[mask == 0], image[mask == 0])
    assert np.abs(final[mask == 1].astype(int) - image[mask == 1]).mean() > 5
    assert previews and all(np.array_equal(p[mask == 0], image[mask == 0]) for p in previews)
    # no selection: the whole image is repainted
    whole = run_op(get_op("inpaint_diffusion"), image, params(tiny, max_size=64))
    assert np.abs(whole.astype(int) - image).mean() > 5


def test_inpaint_with_an_inpainting_unet(tmp_path):
    folder = build_tiny_pipeline(tmp_path / "tiny-inpaint", unet_in=9)
    assert diffusion.describe_diffusion(folder).inpainting
    image = photo(64, 64)
    mask = np.zeros((64, 64), np.float32)
    mask[16:48, 16:48] = 1
    out = run_op(get_op("inpaint_diffusion"), image,
                 params(folder, prompt="a hat", max_size=64), OpContext(selection=mask))
    np.testing.assert_array_equal(out[mask == 0], image[mask == 0])
    assert np.abs(out[mask == 1].astype(int) - image[mask == 1]).mean() > 5


def test_inpaint_refuses_an_empty_selection(tiny):
    with pytest.raises(OpError, match="selection is empty"):
        diffusion.inpaint_diffusion(photo(), prompt="x", model=str(tiny),
                                    mask=np.zeros((64, 96), np.float32))


def test_mask_box_grows_small_selections():
    m = np.zeros((300, 400), np.float32)
    m[5:7, 390:395] = 1
    rows, cols = diffusion.mask_box(m, 4, m.shape)
    assert rows.stop - rows.start >= 64 and cols.stop - cols.start >= 64
    assert 0 <= rows.start and rows.stop <= 300 and cols.stop <= 400
    assert rows.start <= 5 and rows.stop >= 7 and cols.start <= 390 and cols.stop >= 395


# -- cancel, refusals -------------------------------------------------------------------

def test_cancel_between_steps(tiny):
    seen = []
    ctx = OpContext()

    def progress(fraction, message):
        seen.append(message)
        if message.startswith("step 2/"):
            ctx.cancel()

    ctx._progress = progress
    with pytest.raises(Cancelled):
        run_op(get_op("generate"), blank(), gen(tiny, steps=6), ctx)
    steps = [m for m in seen if m.startswith("step")]
    assert steps[-1].startswith("step 2/6")  # stopped at the next step's check


class _CountingEvent(threading.Event):
    """A cancel event that counts the op's looks and sets itself at look ``trip``
    (as tests/test_cancel.py does for every other op)."""

    def __init__(self, trip: int | None = None) -> None:
        super().__init__()
        self.looks, self.trip = 0, trip

    def is_set(self) -> bool:
        self.looks += 1
        if self.trip is not None and self.looks >= self.trip:
            self.set()
        return super().is_set()


@pytest.mark.parametrize("op", ["generate", "img2img", "inpaint_diffusion"])
def test_cancelled_at_the_middle_look_stops_there(tiny, op):
    spec = get_op(op)
    image = photo(160, 128)
    kw = gen(tiny, steps=4) if op == "generate" else params(tiny, steps=4, max_size=64)
    mask = np.zeros(image.shape[:2], np.float32)
    mask[30:90, 40:120] = 1
    selection = mask if op == "inpaint_diffusion" else None

    def looks(trip=None):
        event = _CountingEvent(trip)
        try:
            run_op(spec, image, kw, OpContext(cancel_event=event, selection=selection))
        except Cancelled:
            return event.looks, "cancelled"
        return event.looks, "done"

    total, outcome = looks()
    assert outcome == "done" and total >= 8  # at least two looks per step
    trip = total // 2 + 1
    seen, outcome = looks(trip)
    assert (seen, outcome) == (trip, "cancelled")


def _one_sentence(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text and "Traceback" not in text and len(text) < 300, text
    return text


def test_refusals_are_one_sentence(tiny, tmp_path):
    spec = get_op("generate")
    with pytest.raises(OpError, match="write a prompt") as e:
        run_op(spec, blank(), gen(tiny, prompt="   "))
    _one_sentence(e)
    with pytest.raises(OpError, match="choose a diffusion model") as e:
        run_op(spec, blank(), gen(tiny, model=""))
    _one_sentence(e)
    with pytest.raises(OpError, match="no diffusion model called") as e:
        run_op(spec, blank(), gen(tiny, model="sd-none"))
    _one_sentence(e)
    with pytest.raises(OpError, match="not a diffusion model") as e:
        run_op(spec, blank(), gen(tiny, model=str(tmp_path)))
    _one_sentence(e)
    with pytest.raises(OpError, match="at least 64 x 64") as e:
        run_op(get_op("img2img"), photo()[:40], params(tiny))
    _one_sentence(e)
    with pytest.raises(OpError, match="not the one this step was made with") as e:
        run_op(spec, blank(), gen(tiny, model_sha256="0" * 64))
    _one_sentence(e)


def test_wrong_model_kind_from_the_store(tiny, monkeypatch):
    from editor.ops.ai import model_store as ms

    monkeypatch.setattr(diffusion, "_store_entry", lambda name: ms.ModelEntry(
        name=name, kind="upscale", path=str(tiny)))
    with pytest.raises(OpError, match="upscale model, not a diffusion model") as e:
        run_op(get_op("img2img"), photo(), params(tiny, model="esrgan"))
    _one_sentence(e)


def test_missing_file_is_one_sentence(tiny, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny, broken)
    (broken / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(OpError, match="unet has no .safetensors weights") as e:
        run_op(get_op("generate"), blank(), gen(tiny, model=str(broken)))
    _one_sentence(e)
    shutil.copy(tiny / "unet" / "diffusion_pytorch_model.safetensors", broken / "unet")
    (broken / "vae" / "config.json").unlink()
    with pytest.raises(OpError, match="vae/config.json is missing") as e:
        run_op(get_op("generate"), blank(), gen(tiny, model=str(broken)))
    _one_sentence(e)


def test_size_limits():
    with pytest.raises(OpError, match="up to 2048"):
        diffusion.check_size(4096, 512, "Generate")
    with pytest.raises(OpError, match="at least 64"):
        diffusion.check_size(512, 32, "Generate")
    with pytest.raises(ValueError, match="width"):  # the declared range refuses it first
        run_op(get_op("generate"), blank(), {"prompt": "x", "model": "m", "width": 4096})


# -- device and memory ------------------------------------------------------------------

def test_device_selection(monkeypatch):
    import torch

    monkeypatch.delenv("CONVOLVE_DEVICE")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert diffusion.select_device() == (torch.device("cuda"), torch.float16)
    assert diffusion.select_device(force_cpu=True) == (torch.device("cpu"), torch.float32)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert diffusion.select_device() == (torch.device("mps"), torch.float16)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert diffusion.select_device() == (torch.device("cpu"), torch.float32)


def test_memory_plan_turns_savers_on_for_large_images(tiny):
    assert diffusion.memory_plan(512, 512, "cuda") == {"attention_slicing": False,
                                                       "vae_tiling": False}
    assert diffusion.memory_plan(768, 512, "cuda")["attention_slicing"]
    assert diffusion.memory_plan(512, 512, "mps")["attention_slicing"]
    assert diffusion.memory_plan(1536, 1024, "cpu")["vae_tiling"]
    # and the run applies it: a 1088 px picture decodes in tiles
    seen = {}
    ctx = OpContext()
    real = diffusion._task_pipe

    def spy(base, task, model):
        pipe = real(base, task, model)
        orig = pipe.__class__.__call__

        def call(self, *a, **k):
            seen["tiling"] = self.vae.use_tiling
            return orig(self, *a, **k)

        pipe.__class__ = type("Spy", (pipe.__class__,), {"__call__": call})
        return pipe

    import unittest.mock

    with unittest.mock.patch.object(diffusion, "_task_pipe", spy):
        out = run_op(get_op("generate"), blank(), gen(tiny, steps=1, width=1088, height=64),
                     ctx)
    assert out.shape == (64, 1088, 3) and seen["tiling"] is True


# -- command line, recipes, start-up ------------------------------------------------------

def test_cli_generate_end_to_end(tiny, tmp_path, capsys):
    from editor.cli import main
    from editor.io import load_image

    out = tmp_path / "cat.png"
    recipe = tmp_path / "cat.recipe.json"
    code = main(["generate", "a red cat", "-o", str(out), "--model", str(tiny), "--seed", "3",
                 "--steps", "2", "--size", "80x64", "--save-recipe", str(recipe)])
    assert code == 0, capsys.readouterr().err
    first = load_image(str(out)).pixels
    assert first.shape == (64, 80, 3)
    step = json.loads(recipe.read_text())["steps"][0]
    assert step["op"] == "generate" and step["params"]["seed"] == 3
    assert step["params"]["model_sha256"] == diffusion.describe_diffusion(tiny).sha256
    # the recipe replays to the same pixels
    again = tmp_path / "again.png"
    assert main(["apply", str(out), "-o", str(again), "--recipe", str(recipe)]) == 0
    np.testing.assert_array_equal(load_image(str(again)).pixels, first)


def test_cli_generate_errors_are_one_line(tiny, tmp_path, capsys):
    from editor.cli import main

    out = tmp_path / "x.png"
    assert main(["generate", "", "-o", str(out), "--model", str(tiny)]) == 2
    assert main(["generate", "cat", "-o", str(out), "--model", str(tmp_path / "nope")]) in (1, 2)
    assert main(["generate", "cat", "-o", str(out), "--model", str(tiny), "--size", "9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all("Traceback" not in line for line in err), err
    assert not out.exists()


def test_cli_apply_img2img(tiny, tmp_path):
    from PIL import Image

    from editor.cli import main
    from editor.io import load_image

    src = tmp_path / "in.png"
    Image.fromarray(photo()).save(src)
    out = tmp_path / "out.png"
    assert main(["apply", str(src), "-o", str(out), "--op", "img2img", "prompt=a cat",
                 f"model={tiny}", "steps=2", "max_size=64"]) == 0
    assert load_image(str(out)).pixels.shape == (64, 96, 3)


def test_startup_imports_nothing_of_diffusion():
    code = ("import sys, editor.ops, editor.cli as c; c.build_parser(); "
            "import editor.ops.ai.diffusion; "
            "bad = [m for m in ('torch', 'diffusers', 'transformers', 'huggingface_hub') "
            "if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                   env=dict(os.environ, PYTHONPATH=str(ROOT)))


# -- the window: Generate…, the Img2img and Inpaint tabs -----------------------------

@pytest.fixture
def ai_window(qtbot, tmp_path, monkeypatch, tiny):
    from conftest import make_main_window

    from editor.ops.ai import model_store as ms
    from editor.ui import ai_panels

    monkeypatch.setenv("CONVOLVE_RECOVERY_DIR", str(tmp_path / "recovery"))
    ms.add(tiny, name="tiny-sd")
    w = make_main_window(qtbot, tmp_path, size=(1280, 720))
    ai_panels.install(w)
    return w


def _settle(qtbot, w, timeout=120000):
    from conftest import settle

    settle(qtbot, w, timeout=timeout)


def _recipe(w) -> list[dict]:
    return json.loads(w.controller.recipe_json())["steps"]


@pytest.mark.gui
def test_generate_dialog_opens_a_new_document(qtbot, ai_window):
    from PySide6.QtCore import Qt

    from editor.ui.generate_dialog import NO_MODEL, GenerateDialog

    w = ai_window
    dlg = GenerateDialog(w)
    qtbot.addWidget(dlg)
    form = dlg.form
    assert form.model_field.value() == "tiny-sd"  # the store's model, picked already
    assert not form.editors["model_sha256"].widget.isVisibleTo(dlg)
    # no prompt: one sentence, nothing opened
    qtbot.mouseClick(dlg.generate_button, Qt.MouseButton.LeftButton)
    assert dlg.note.text().startswith("Write a prompt") and w.controller.document is None
    form.editors["prompt"].edit.setPlainText("a lighthouse\non a cliff")
    form.set_params({"steps": 2, "guidance": 0.0, "seed": 5, "width": 80, "height": 64})
    qtbot.mouseClick(dlg.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.controller.undo_stack.count() == 1, timeout=120000)
    _settle(qtbot, w)
    image = w.controller.current_image()
    assert image.shape == (64, 80, 3) and image.std() > 1
    step, = _recipe(w)
    assert step["op"] == "generate" and step["params"]["seed"] == 5
    assert step["params"]["prompt"] == "a lighthouse on a cliff"
    assert step["params"]["model_sha256"] == diffusion.describe_diffusion(
        diffusion.resolve_model("tiny-sd").path).sha256
    # the same settings through the op give the same pixels (the recipe replays)
    again = run_op(get_op("generate"), blank(), step["params"])
    np.testing.assert_array_equal(again, image)
    # with an image open, the next picture opens in a window of its own
    dlg2 = GenerateDialog(w)
    qtbot.addWidget(dlg2)
    dlg2.form.set_params({**step["params"], "seed": 6})
    target = dlg2.generate()
    assert target is not w
    target._confirm = lambda doing: True  # closing it at the end discards the picture
    qtbot.addWidget(target)
    qtbot.waitUntil(lambda: target.controller.undo_stack.count() == 1, timeout=120000)
    _settle(qtbot, target)
    assert w.controller.undo_stack.count() == 1  # the first picture is untouched
    assert NO_MODEL.startswith("No diffusion model")


@pytest.mark.gui
def test_img2img_and_inpaint_tabs_edit_the_current_image(qtbot, ai_window, tmp_path):
    from conftest import open_image
    from PySide6.QtCore import Qt

    w = ai_window
    panel = w.ai_panel
    titles = [panel.tabs.tabText(i) for i in range(panel.tabs.count())]
    assert titles[-2:] == ["Img2img", "Inpaint"]
    image = photo(96, 64)
    open_image(qtbot, w, image, tmp_path / "photo.png")
    _settle(qtbot, w)
    tab = panel.tabs.widget(titles.index("Img2img"))
    panel.tabs.setCurrentWidget(tab)
    tab.form.set_params({"prompt": "a painting", "steps": 2, "guidance": 0.0,
                         "max_size": 64, "strength": 1.0})
    qtbot.mouseClick(tab.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.controller.undo_stack.count() == 1, timeout=120000)
    _settle(qtbot, w)
    repainted = w.controller.current_image().copy()
    assert repainted.shape == image.shape and np.abs(repainted.astype(int) - image).mean() > 5
    # inpaint inside a selection: outside it nothing moves
    mask = np.zeros(image.shape[:2], np.float32)
    mask[16:48, 24:72] = 1
    w.controller.set_selection(mask, "Select")
    _settle(qtbot, w)
    inpaint = panel.tabs.widget(titles.index("Inpaint"))
    panel.tabs.setCurrentWidget(inpaint)
    inpaint.form.set_params({"prompt": "a hat", "steps": 2, "guidance": 0.0, "max_size": 64})
    n = w.controller.undo_stack.count()
    qtbot.mouseClick(inpaint.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.controller.undo_stack.count() == n + 1, timeout=120000)
    _settle(qtbot, w)
    done = w.controller.current_image()
    np.testing.assert_array_equal(done[mask == 0], repainted[mask == 0])
    assert np.abs(done[mask == 1].astype(int) - repainted[mask == 1]).mean() > 5
    steps = _recipe(w)
    assert steps[-1]["op"] == "inpaint_diffusion" and steps[-1]["params"]["model_sha256"]
    # an empty prompt: one sentence in the dock, nothing run
    inpaint.form.editors["prompt"].edit.setPlainText("  ")
    qtbot.mouseClick(inpaint.button, Qt.MouseButton.LeftButton)
    assert panel.status.text().startswith("Write a prompt")
    assert w.controller.undo_stack.count() == n + 1
