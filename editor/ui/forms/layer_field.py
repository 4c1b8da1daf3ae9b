"""A layer picker that follows the network picker beside it.

Deep Dream and the feature maps take a ``network`` and one of its ``layer`` names.
The registry's layer choice lists every network's layers at once, so a generic
combo box would offer ``relu4_3`` beside EfficientNet, an error waiting for the
user. :class:`NetworkLayerField` lists only the chosen network's layers; when the
network changes it keeps the layer if the new network has one of that name, and
otherwise shows that network's usual dream layer (``DREAM_LAYERS``).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from editor.ops.params import Param
from editor.ui.forms.fields import ChoiceField, choice_text
from editor.ui.forms.param_form import ThrottledForm, register_fields

#: What each network is for, as the network picker's item tool tips.
NETWORK_TIPS = {
    "vgg16": "VGG16 (packaged): the classic look of the Deep Dream and style-transfer "
             "tutorials, bold painterly eyes and dog faces; a dream step costs about 15x "
             "EfficientNet's on a CPU.",
    "vgg19": "VGG19, Gatys et al.'s network: download it in Models… first.",
    "googlenet": "GoogLeNet, Google's original Deep Dream network: download it in "
                 "Models… first.",
    "efficientnet_lite0": "EfficientNet-Lite0 (packaged), the classifier's network: a "
                          "dream in seconds on a CPU, with softer, photographic animals.",
}


class NetworkLayerField(ChoiceField):
    """The ``layer`` combo box, filled with the layers of the form's ``network``."""

    def __init__(self, param: Param, form: ThrottledForm) -> None:
        super().__init__(param, form)
        self._wanted: str | None = None  # a layer set before its network was
        network = form.editors["network"]  # declared before the layer, so built first
        # the layers must be refilled before the form reads its values on a network
        # change: the form's own slot was connected first, so connect it again after
        network.widget.currentIndexChanged.disconnect()
        network.widget.currentIndexChanged.connect(lambda _i: self.refill())
        network.widget.currentIndexChanged.connect(lambda _i: (form._changed(),
                                                               form._commit()))
        set_network = network.set_value  # set_params blocks the combo's signals

        def set_value(value: Any) -> None:
            set_network(value)
            self.refill()

        network.set_value = set_value
        for i in range(network.widget.count()):
            network.widget.setItemData(i, NETWORK_TIPS.get(network.widget.itemData(i), ""),
                                       Qt.ItemDataRole.ToolTipRole)
        self.network = network
        self.widget.currentIndexChanged.connect(self._picked)
        self.refill()

    def _picked(self, _index: int) -> None:
        self._wanted = None  # the user's own choice from now on

    def refill(self) -> None:
        """List the current network's layers, keeping the layer shown where it can."""
        from editor.ops.ai.vgg import DREAM_LAYERS, relu_layers

        net = self.network.value()
        names = relu_layers(net)
        keep = self._wanted if self._wanted in names else self.widget.currentData()
        self._wanted = None
        if keep not in names:
            keep = self.param.default if self.param.default in names else DREAM_LAYERS[net]
        self.widget.blockSignals(True)
        self.widget.clear()
        for name in names:
            self.widget.addItem(choice_text(name), name)
        self.widget.setCurrentIndex(names.index(keep))
        self.widget.blockSignals(False)

    def set_value(self, value: Any) -> None:
        # kept for the network that set_params may set next (its order is the caller's)
        self._wanted = value
        super().set_value(value)


DreamForm = register_fields("deep_dream", {"layer": NetworkLayerField},
                            "Deep Dream's form: the layer picker lists the chosen network's "
                            "layers.")
FeatureMapsForm = register_fields("feature_maps", {"layer": NetworkLayerField},
                                  "The feature maps' form: the layer picker lists the chosen "
                                  "network's layers.")
