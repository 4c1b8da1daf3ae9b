"""``convolve generate``: text-to-image from a local diffusion model (no Qt, no network).

::

    convolve generate "PROMPT" -o OUT --model NAME [--seed S] [--steps N] [--size WxH]

The picture is made by the registered ``generate`` op through a one-step recipe,
so ``--save-recipe`` writes exactly what ``convolve apply --recipe`` replays (the
seed and the model's SHA-256 included). ``img2img`` and ``inpaint_diffusion`` run
through ``convolve apply --op``. Progress, errors and Ctrl+C go through
:mod:`editor.cli_common` like every command.
"""

from __future__ import annotations

import argparse

from editor.cli_common import EXIT_OK, EXIT_USAGE, Progress, fail, warning


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``generate`` to the ``convolve`` command line."""
    p = subparsers.add_parser(
        "generate", help="paint a picture from a text prompt with a local diffusion model",
        description="Text-to-image with a Stable Diffusion model already on this computer "
        "(a diffusers folder, or a name from `convolve models`). Never downloads anything.")
    p.add_argument("prompt", help="what the picture shows")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT", help="image file to write")
    p.add_argument("--model", required=True, metavar="NAME",
                   help="a diffusion model's name in `convolve models`, or its folder")
    p.add_argument("--negative", default="", metavar="TEXT", help="what it should not show")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    p.add_argument("--steps", type=int, default=None,
                   help="denoising steps (default 20; 4 for Turbo and LCM models)")
    p.add_argument("--guidance", type=float, default=None,
                   help="how strongly the prompt is followed (default 7.5; 0 for Turbo)")
    p.add_argument("--scheduler", default="default",
                   help="default, euler, euler_a, ddim, dpm++ or lcm")
    p.add_argument("--size", default="512x512", metavar="WxH", help="default 512x512")
    p.add_argument("--cpu", action="store_true", help="run on the CPU even with a GPU")
    p.add_argument("--save-recipe", metavar="RECIPE", help="also write the step as a recipe")
    p.set_defaults(func=cmd_generate)


#: Steps and guidance the distilled models are made for.
DISTILLED = {"Turbo": (4, 0.0), "LCM": (4, 1.5)}


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise ValueError(f"--size must look like 512x512, got {text!r}") from None
    return w, h


def cmd_generate(args: argparse.Namespace) -> int:
    """Generate one picture and save it."""
    from editor.core.context import OpContext, OpError
    from editor.core.recipe import Recipe
    from editor.ops import ParamError, get_op
    from editor.ops.ai import diffusion

    try:
        width, height = _size(args.size)
        prompt = diffusion.check_prompt(args.prompt)
        model = diffusion.resolve_model(args.model)
    except (ValueError, OpError) as e:
        return fail(e, EXIT_USAGE)
    steps, guidance = DISTILLED.get(model.variant, (20, 7.5))
    params = dict(prompt=prompt, negative_prompt=args.negative, model=args.model,
                  model_sha256=model.sha256, seed=args.seed,
                  steps=args.steps if args.steps is not None else steps,
                  guidance=args.guidance if args.guidance is not None else guidance,
                  scheduler=args.scheduler, width=width, height=height)
    spec = get_op("generate")
    try:
        spec.bind(params)
    except ParamError as e:
        return fail(e, EXIT_USAGE)
    try:
        from editor.io import save_image
        from editor.io.formats import format_for_path

        format_for_path(args.output)
    except ValueError as e:
        return fail(e, EXIT_USAGE)
    if args.cpu:
        from editor.ops.ai.models import set_force_cpu

        set_force_cpu(True)
    recipe = Recipe()
    recipe.append("generate", params)
    progress = Progress()
    ctx = OpContext(progress=progress.callback)
    import numpy as np

    try:
        image = recipe.apply(np.zeros((height, width, 3), np.uint8), ctx)
    except OpError as e:
        progress.clear()
        return fail(e)
    progress.clear()
    for note in save_image(args.output, image):
        warning(note)
    if args.save_recipe:
        recipe.save(args.save_recipe)
    print(f"{args.output}: {width // 8 * 8} x {height // 8 * 8}, seed {args.seed}, "
          f"{model.name} ({model.variant}, sha256 {model.sha256[:12]}…)")
    return EXIT_OK
