"""Write a diffusers Stable Diffusion folder as one original-layout ``.safetensors`` file.

The inverse of diffusers' single-file conversion (``diffusers.loaders.single_file_utils``:
``convert_ldm_unet_checkpoint``, ``convert_ldm_vae_checkpoint``,
``convert_ldm_clip_checkpoint``, ``convert_open_clip_checkpoint``), for the tests: the
UNet goes under ``model.diffusion_model.``, the VAE under ``first_stage_model.`` and the
CLIP text encoder under ``cond_stage_model.transformer.`` (SD1), or, for SDXL, the two
text encoders under ``conditioner.embedders.0.transformer.`` (CLIP) and
``conditioner.embedders.1.model.`` (OpenCLIP, with its fused ``in_proj`` attention).

The block numbering follows each model's own config (``layers_per_block``, which blocks
have attention, how many blocks), so the tiny test pipelines convert as a real SD 1.5 or
SDXL checkpoint does. The fixed name pairs are diffusers' own table
(``DIFFUSERS_TO_LDM_MAPPING``); the per-block renames are those of diffusers' script
``convert_diffusers_to_original_stable_diffusion.py``. :func:`round_trip` runs
diffusers' forward conversion on the result, so a wrong name here shows up as a test
failure rather than as a silently random layer.
"""

from __future__ import annotations

import json
from pathlib import Path

#: diffusers resnet part -> original (LDM) ResBlock part.
UNET_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "norm2": "out_layers.0",
               "conv2": "out_layers.3", "time_emb_proj": "emb_layers.1",
               "conv_shortcut": "skip_connection"}
#: diffusers VAE resnet part -> original VAE ``ResnetBlock`` part (the rest keep their names).
VAE_RESNET = {"conv_shortcut": "nin_shortcut"}
#: diffusers VAE attention part -> original ``AttnBlock`` part (1x1 convolutions there).
VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v",
                 "to_out.0": "proj_out"}
#: diffusers CLIP encoder-layer part -> OpenCLIP residual-block part.
OPEN_CLIP_LAYER = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc",
                   "mlp.fc2": "mlp.c_proj", "self_attn.out_proj": "attn.out_proj"}


def _config(folder: Path, part: str) -> dict:
    return json.loads((folder / part / "config.json").read_text())


def _weights(folder: Path, part: str) -> dict:
    from safetensors.torch import load_file

    files = sorted((folder / part).glob("*.safetensors"))
    out: dict = {}
    for f in files:
        out.update(load_file(str(f)))
    return out


def _split(key: str, prefix: str) -> tuple[int, int, str]:
    """``down_blocks.1.resnets.0.conv1.weight`` -> (1, 0, ``conv1.weight``)."""
    parts = key[len(prefix):].split(".")
    return int(parts[0]), int(parts[2]), ".".join(parts[3:])


def _resnet(rest: str, table: dict[str, str]) -> str:
    head, _, tail = rest.partition(".")
    return f"{table.get(head, head)}.{tail}"


def unet_to_ldm(state: dict, config: dict) -> dict:
    """A diffusers ``UNet2DConditionModel`` state dict in the original numbering."""
    from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING

    fixed = dict(DIFFUSERS_TO_LDM_MAPPING["unet"]["layers"])
    if config.get("addition_embed_type") == "text_time":
        fixed.update(DIFFUSERS_TO_LDM_MAPPING["unet"]["addition_embed_type"])
    if config.get("class_embed_type") in ("timestep", "projection"):
        fixed.update(DIFFUSERS_TO_LDM_MAPPING["unet"]["class_embed_type"])
    per = config["layers_per_block"]
    if not isinstance(per, int):
        raise ValueError("one layers_per_block for every block is what the original layout has")
    step = per + 1
    has_attention = {int(k.split(".")[1]) for k in state
                     if k.startswith("up_blocks.") and ".attentions." in k}
    out = {}
    for key, value in state.items():
        if key in fixed:
            new = fixed[key]
        elif key.startswith("down_blocks."):
            block, j, rest = _split(key, "down_blocks.")
            kind = key.split(".")[2]
            if kind == "resnets":
                new = f"input_blocks.{1 + block * step + j}.0.{_resnet(rest, UNET_RESNET)}"
            elif kind == "attentions":
                new = f"input_blocks.{1 + block * step + j}.1.{rest}"
            else:  # downsamplers.0.conv.*
                new = f"input_blocks.{(block + 1) * step}.0.op.{rest.removeprefix('conv.')}"
        elif key.startswith("up_blocks."):
            block, j, rest = _split(key, "up_blocks.")
            kind = key.split(".")[2]
            if kind == "resnets":
                new = f"output_blocks.{block * step + j}.0.{_resnet(rest, UNET_RESNET)}"
            elif kind == "attentions":
                new = f"output_blocks.{block * step + j}.1.{rest}"
            else:  # upsamplers.0.conv.*: after the attention when the block has one
                slot = 2 if block in has_attention else 1
                new = f"output_blocks.{block * step + per}.{slot}.{rest}"
        elif key.startswith("mid_block.resnets."):
            j, rest = int(key.split(".")[2]), ".".join(key.split(".")[3:])
            new = f"middle_block.{2 * j}.{_resnet(rest, UNET_RESNET)}"
        elif key.startswith("mid_block.attentions.0."):
            new = "middle_block.1." + key.removeprefix("mid_block.attentions.0.")
        else:
            raise KeyError(f"no original name for UNet tensor {key}")
        out["model.diffusion_model." + new] = value
    return out


def vae_to_ldm(state: dict, config: dict) -> dict:
    """A diffusers ``AutoencoderKL`` state dict in the original layout."""
    from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING

    fixed = DIFFUSERS_TO_LDM_MAPPING["vae"]
    last = len(config["block_out_channels"]) - 1
    out = {}
    for key, value in state.items():
        side, _, rest = key.partition(".")
        if key in fixed:
            new = fixed[key]
        elif rest.startswith("down_blocks."):
            block, j, tail = _split(rest, "down_blocks.")
            if rest.split(".")[2] == "resnets":
                new = f"{side}.down.{block}.block.{j}.{_resnet(tail, VAE_RESNET)}"
            else:
                new = f"{side}.down.{block}.downsample.{tail}"
        elif rest.startswith("up_blocks."):
            block, j, tail = _split(rest, "up_blocks.")
            if rest.split(".")[2] == "resnets":
                new = f"{side}.up.{last - block}.block.{j}.{_resnet(tail, VAE_RESNET)}"
            else:
                new = f"{side}.up.{last - block}.upsample.{tail}"
        elif rest.startswith("mid_block.resnets."):
            j, tail = int(rest.split(".")[2]), ".".join(rest.split(".")[3:])
            new = f"{side}.mid.block_{j + 1}.{_resnet(tail, VAE_RESNET)}"
        elif rest.startswith("mid_block.attentions.0."):
            tail = rest.removeprefix("mid_block.attentions.0.")
            name, _, kind = tail.rpartition(".")
            new = f"{side}.mid.attn_1.{VAE_ATTENTION[name]}.{kind}"
            if kind == "weight" and value.ndim == 2:
                value = value[:, :, None, None]  # the original's attention is 1x1 convolutions
        else:
            raise KeyError(f"no original name for VAE tensor {key}")
        out["first_stage_model." + new] = value
    return out


def clip_to_ldm(state: dict, prefix: str) -> dict:
    """A transformers ``CLIPTextModel`` state dict under ``prefix`` (``text_model.`` kept)."""
    out = {}
    for key, value in state.items():
        if key.endswith("position_ids"):
            continue
        inner = key if key.startswith(("text_model.", "text_projection")) else "text_model." + key
        out[prefix + inner] = value
    return out


def open_clip_to_ldm(state: dict, prefix: str) -> dict:
    """A ``CLIPTextModelWithProjection`` state dict as OpenCLIP names it (SDXL's second)."""
    import torch

    out: dict = {}
    fused: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        key = key if key.startswith(("text_model.", "text_projection")) else "text_model." + key
        if key.endswith("position_ids"):
            continue
        if key == "text_projection.weight":
            out["text_projection"] = value.T.contiguous()
        elif key == "text_model.embeddings.position_embedding.weight":
            out["positional_embedding"] = value
        elif key == "text_model.embeddings.token_embedding.weight":
            out["token_embedding.weight"] = value
        elif key.startswith("text_model.final_layer_norm."):
            out["ln_final." + key.rpartition(".")[2]] = value
        elif key.startswith("text_model.encoder.layers."):
            n, rest = key.split(".")[3], ".".join(key.split(".")[4:])
            block = f"transformer.resblocks.{n}."
            name, _, kind = rest.rpartition(".")
            if name in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
                fused.setdefault(f"{block}attn.in_proj_{kind}", {})[name[-6]] = value
            else:
                out[block + OPEN_CLIP_LAYER[name] + "." + kind] = value
        else:
            raise KeyError(f"no OpenCLIP name for text encoder tensor {key}")
    for key, qkv in fused.items():
        out[key] = torch.cat([qkv["q"], qkv["k"], qkv["v"]], dim=0)
    return {prefix + k: v for k, v in out.items()}


def to_single_file(folder: Path, out: Path, open_clip: bool = False) -> Path:
    """Write the diffusers pipeline in ``folder`` as one original-layout file at ``out``.

    ``open_clip``: write an SD 1 layout's text encoder as SD 2.x does, as OpenCLIP under
    ``cond_stage_model.model.`` (SDXL's second encoder always is).
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    state = unet_to_ldm(_weights(folder, "unet"), _config(folder, "unet"))
    state.update(vae_to_ldm(_weights(folder, "vae"), _config(folder, "vae")))
    if (folder / "text_encoder_2").is_dir():  # SDXL
        state.update(clip_to_ldm(_weights(folder, "text_encoder"),
                                 "conditioner.embedders.0.transformer."))
        state.update(open_clip_to_ldm(_weights(folder, "text_encoder_2"),
                                      "conditioner.embedders.1.model."))
    elif open_clip:  # SD 2.x
        state.update(open_clip_to_ldm(_weights(folder, "text_encoder"),
                                      "cond_stage_model.model."))
    else:
        state.update(clip_to_ldm(_weights(folder, "text_encoder"),
                                 "cond_stage_model.transformer."))
    save_file({k: v.contiguous() for k, v in state.items()}, str(out))
    return Path(out)


def config_only(folder: Path, out: Path) -> Path:
    """A copy of ``folder`` without its weights: the config folder a user keeps."""
    import shutil

    shutil.copytree(folder, out, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    return Path(out)


def round_trip(folder: Path, ckpt: Path) -> dict[str, list[str]]:
    """Run diffusers' own forward conversion on ``ckpt``; compare with ``folder``'s weights.

    Returns, per part, the tensors that do not come back equal (name or value); all
    lists empty when the file is the exact inverse of diffusers' loader.
    """
    import torch
    from diffusers.loaders import single_file_utils as su
    from safetensors.torch import load_file

    ckpt_state = load_file(str(ckpt))
    bad: dict[str, list[str]] = {}

    def compare(part: str, converted: dict, want: dict) -> None:
        want = {k: v for k, v in want.items() if not k.endswith("position_ids")}
        converted = {(k if k.startswith(("text_model.", "text_projection")) or part
                      in ("unet", "vae") else "text_model." + k): v
                     for k, v in converted.items()}
        want = {(k if k.startswith(("text_model.", "text_projection")) or part
                 in ("unet", "vae") else "text_model." + k): v for k, v in want.items()}
        bad[part] = sorted(set(want) ^ set(converted)) + sorted(
            k for k in set(want) & set(converted)
            if want[k].shape != converted[k].shape or not torch.equal(want[k], converted[k]))

    compare("unet", su.convert_ldm_unet_checkpoint(ckpt_state, _config(folder, "unet")),
            _weights(folder, "unet"))
    compare("vae", su.convert_ldm_vae_checkpoint(ckpt_state, _config(folder, "vae")),
            _weights(folder, "vae"))
    if any(k.startswith("cond_stage_model.model.") for k in ckpt_state):
        from transformers import CLIPTextConfig, CLIPTextModel

        model = CLIPTextModel(CLIPTextConfig.from_pretrained(str(folder / "text_encoder")))
        converted = su.convert_open_clip_checkpoint(model, ckpt_state)
    else:
        converted = su.convert_ldm_clip_checkpoint(ckpt_state)
    compare("text_encoder", converted, _weights(folder, "text_encoder"))
    if (folder / "text_encoder_2").is_dir():
        from transformers import CLIPTextConfig, CLIPTextModelWithProjection

        model = CLIPTextModelWithProjection(
            CLIPTextConfig.from_pretrained(str(folder / "text_encoder_2")))
        compare("text_encoder_2", su.convert_open_clip_checkpoint(
            model, ckpt_state, prefix="conditioner.embedders.1.model."),
            _weights(folder, "text_encoder_2"))
    return bad
