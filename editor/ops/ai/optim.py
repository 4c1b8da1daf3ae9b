"""Optimisers that never import ``torch._dynamo``.

Constructing any ``torch.optim`` optimiser imports ``torch._dynamo`` (2.7 s on a
2-core CPU), and with it ``triton``, whose LLVM crashes in its static
initialisers in a Qt process that already loaded Mesa's (reproduced with a
``QOpenGLWidget`` under ``xvfb-run``). :class:`Adam` keeps Adam's state and calls
torch's functional update; :func:`optimizers_without_dynamo` lets ``torch.optim``'s
L-BFGS run without the import. Importing this module does not import torch.
"""

from __future__ import annotations


class Adam:
    """``torch.optim.Adam`` (L2 weight decay) without constructing a torch optimizer.

    The update is torch's own: :func:`torch.optim.adam.adam`, the functional form
    ``torch.optim.Adam.step`` calls (single-tensor path, as on the CPU). This class
    only keeps its state, so neither ``torch._dynamo`` nor ``triton`` is imported
    (see the module's docstring). ``tests/test_teach_train.py`` checks it against
    ``torch.optim.Adam``, bit for bit. The teachable classifier's trainer and style
    transfer's Adam option use it.

    References
    ----------
    .. [1] D. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        import torch

        self.params = [p for p in params if p.requires_grad]
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.m = [torch.zeros_like(p, memory_format=torch.preserve_format)
                  for p in self.params]
        self.v = [torch.zeros_like(p, memory_format=torch.preserve_format)
                  for p in self.params]
        self.steps = [torch.tensor(0.0) for _ in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        import torch
        from torch.optim.adam import adam

        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        with torch.no_grad():
            adam([self.params[i] for i in live], [self.params[i].grad for i in live],
                 [self.m[i] for i in live], [self.v[i] for i in live], [],
                 [self.steps[i] for i in live], foreach=False, amsgrad=False,
                 beta1=self.betas[0], beta2=self.betas[1], lr=self.lr,
                 weight_decay=self.weight_decay, eps=self.eps, maximize=False)


def optimizers_without_dynamo() -> None:
    """Keep torch's optimisers from importing ``torch._dynamo`` (2.7 s here).

    torch marks ``Optimizer.add_param_group``, ``zero_grad`` and a few more "never
    compile" with ``torch._compile._disable_dynamo``, a wrapper that imports
    ``torch._dynamo`` on its first call only to build that marker, and caches it on
    the function as ``__dynamo_disable``. Nothing here is compiled, so each such
    function is given itself as the cached marker and the wrapper calls it
    directly. The first L-BFGS step of a style transfer then starts 2.7 s sooner
    on a 2-core CPU, and dynamo's import of triton, which crashes beside Mesa's
    LLVM in a Qt process (see :mod:`editor.ui.app`), never happens. (An Adam
    object's step imports dynamo itself: use :class:`Adam`.) Should torch
    rename the cache, the wrapper imports dynamo as before: slower, not wrong.
    """
    import torch._compile
    from torch.optim import Optimizer

    wrapper = torch._compile._disable_dynamo(lambda: None).__code__
    for cls in (Optimizer, *Optimizer.__subclasses__()):
        for attr in vars(cls).values():
            fn = getattr(attr, "__wrapped__", None)
            if getattr(attr, "__code__", None) is wrapper and fn is not None:
                fn.__dynamo_disable = fn
