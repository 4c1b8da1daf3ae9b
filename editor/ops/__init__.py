"""Pure image operations (no Qt) and their registry.

Importing this package imports every module in it and in :mod:`editor.ops.ai`,
which registers their operations. AI modules import torch only inside their
functions, so loading the registry stays fast.
"""

import importlib
import pkgutil

from editor.ops.registry import (  # noqa: F401
    Kind,
    Label,
    OpSpec,
    Param,
    ParamError,
    Range,
    all_ops,
    categories,
    get_op,
    register_op,
    run_op,
    run_op_local,
)

#: Modules that failed to import, with the error; the contract test asserts it is empty.
#: Collected rather than raised so one broken module cannot take the editor down.
IMPORT_ERRORS: dict[str, str] = {}


def _import_submodules() -> None:
    for pkg_name in ("editor.ops", "editor.ops.ai"):
        pkg = importlib.import_module(pkg_name)
        for info in pkgutil.iter_modules(pkg.__path__):
            if info.name.startswith("_") or info.name in ("registry", "params") or info.ispkg:
                continue
            try:
                importlib.import_module(f"{pkg_name}.{info.name}")
            except Exception as e:  # noqa: BLE001  (reported by IMPORT_ERRORS)
                IMPORT_ERRORS[f"{pkg_name}.{info.name}"] = f"{type(e).__name__}: {e}"


_import_submodules()
