"""Raw-waveform 1-D CNNs, written in 2-D form (T, 1, C) so TF-MOT can quantize them (DESIGN §3).

Conv2D((k, 1)) and MaxPool2D((p, 1)) over an input of shape (T, 1, 1) compute exactly what Conv1D
and MaxPooling1D would, but convert to the shortest TFLite op list (no EXPAND_DIMS/RESHAPE around
each conv) and are supported by stock QAT and BN folding.
"""

from __future__ import annotations

from tinyasc.tf_env import import_tf

# One second of 16-kHz audio: the anchor's input (DESIGN §6), and the default of the raw-waveform models.
ANCHOR_INPUT_SAMPLES = 16000


def anchor_cnn(num_classes: int = 10, input_samples: int = ANCHOR_INPUT_SAMPLES):
    """The anchor model of DESIGN §6: the yardstick every runtime and compiler is compared on.

    Conv(16, k64, s4)+ReLU → MaxPool 4 → Conv(32, k3)+ReLU → MaxPool 4 → Conv(64, k3)+ReLU →
    MaxPool 4 → GlobalAvgPool → Dense(num_classes). Outputs logits (no softmax: argmax is the
    same and the int8 output keeps its full range). 9,466 parameters with 10 classes.
    """
    _, keras = import_tf()
    layers = keras.layers
    inputs = keras.Input(shape=(input_samples, 1, 1), name="waveform")
    x = layers.Conv2D(16, (64, 1), strides=(4, 1), padding="valid", activation="relu", name="conv1")(inputs)
    x = layers.MaxPool2D((4, 1), name="pool1")(x)
    x = layers.Conv2D(32, (3, 1), padding="valid", activation="relu", name="conv2")(x)
    x = layers.MaxPool2D((4, 1), name="pool2")(x)
    x = layers.Conv2D(64, (3, 1), padding="valid", activation="relu", name="conv3")(x)
    x = layers.MaxPool2D((4, 1), name="pool3")(x)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    logits = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="anchor_cnn")


# ------------------------------------------------------------------ Pajusco et al., DCASE 2020 task 1b
#
# Models A–D of Pajusco, Huang & Farrugia (papers/pajusco-dcase2020-task1b-1d-cnn.txt), on raw
# binaural waveforms (18 kHz in the paper: `channels=2`, `input_samples=180000` for 10-s clips).
# Layer sizes follow the authors' per-layer tables (ModelX_layers.csv in their repository):
# A/B: Conv(16, k64, s4) → 3 (A) or 4 (B) more Conv(k4) blocks, each conv → BN → ReLU → MaxPool 4,
# then global average pooling and a linear layer. C/D: Conv(32, k64, s4) → BN → ReLU, then three
# groups of basic residual blocks (32, 64, 128 channels; 3-4-3 blocks for C, 3-3-3 for D), the first
# block of each group with stride 4 and a 1×1 projection shortcut, then global average pooling.
#
# How the paper counts (Table 1, checked layer by layer against their CSVs): every *weight* tensor
# (conv kernels, BN scale γ, linear weight) and no bias or BN shift. That gives A 13,632,
# B 30,080, C 398,400, D 373,696 with 3 classes. Table 1's "Size (KB)" is the *non-zero* count
# after structured pruning, BN excluded, × 2 bytes (float16), in KiB: A 12,160 × 2 B = 23.8 KB,
# B 29,888 × 2 B = 58.4 KB (B was not pruned), C 130,730 × 2 B = 255.3 KB, D 238,896 × 2 B =
# 466.6 KB (C and D were pruned by about 66 % and 35 %, which tinyasc does not do yet).

PAJUSCO_VGG_WIDTHS = {"a": (16, 16, 32, 64), "b": (16, 16, 32, 64, 64)}
PAJUSCO_RESNET_BLOCKS = {"c": (3, 4, 3), "d": (3, 3, 3)}
# Both papers trained in PyTorch, whose BatchNorm keeps 10 % of each batch in its running statistics
# (Keras' default keeps 1 %: after a short run its inference statistics are still mostly the
# initial 0 and 1, and validation accuracy is near chance) and uses eps 1e-5.
PYTORCH_BN = {"momentum": 0.9, "epsilon": 1e-5}


def _conv_bn_relu(x, filters: int, kernel: int, stride: int, name: str, padding: str = "valid", relu: bool = True):
    """Conv2D((kernel, 1)) without bias (the BN shift is the bias once folded) → BN → ReLU.

    A stride larger than a kernel wider than 1 (the ResNets' k3 s4) crashes TensorFlow's oneDNN
    CPU convolution (segfault, TF 2.21), so such a conv runs at stride 1 and a 1×1 max pool with
    the stride keeps every stride-th output: the same function and parameters (with 'same'
    padding it is exactly PyTorch's padding=1, stride 4), 4× the MACs of that conv in float, and
    a MAX_POOL_2D the C generator supports after the CONV_2D in int8. (In training, BN's batch
    statistics then cover every position, not only the kept ones.)
    """
    _, keras = import_tf()
    layers = keras.layers
    subsample = stride if stride > kernel > 1 else 1
    x = layers.Conv2D(filters, (kernel, 1), strides=(stride // subsample, 1), padding=padding, use_bias=False,
                      name=name)(x)
    x = layers.BatchNormalization(**PYTORCH_BN, name=f"{name}_bn")(x)
    if subsample > 1:  # after BN, which the converter can then fold into the conv
        x = layers.MaxPool2D((1, 1), strides=(subsample, 1), name=f"{name}_subsample")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def pajusco_vgg(widths: tuple[int, ...], num_classes: int = 3, input_samples: int = 180000, channels: int = 2,
                name: str = "pajusco_vgg"):
    """VGG-like 1-D CNN: per width a Conv → BN → ReLU → MaxPool 4 block (the first conv k64 s4,
    the others k4), global average pooling, a linear layer giving logits."""
    _, keras = import_tf()
    layers = keras.layers
    inputs = keras.Input(shape=(input_samples, 1, channels), name="waveform")
    x = inputs
    for i, filters in enumerate(widths, start=1):
        kernel, stride = (64, 4) if i == 1 else (4, 1)
        x = _conv_bn_relu(x, filters, kernel, stride, name=f"conv{i}")
        x = layers.MaxPool2D((4, 1), name=f"pool{i}")(x)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    logits = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def pajusco_a(num_classes: int = 3, input_samples: int = 180000, channels: int = 2):
    """Model A: 4 VGG blocks (16, 16, 32, 64). 13,632 parameters as the paper counts them."""
    return pajusco_vgg(PAJUSCO_VGG_WIDTHS["a"], num_classes, input_samples, channels, name="pajusco_a")


def pajusco_b(num_classes: int = 3, input_samples: int = 180000, channels: int = 2):
    """Model B: 5 VGG blocks (16, 16, 32, 64, 64). 30,080 parameters as the paper counts them."""
    return pajusco_vgg(PAJUSCO_VGG_WIDTHS["b"], num_classes, input_samples, channels, name="pajusco_b")


def _basic_block(x, filters: int, stride: int, name: str):
    """ResNet basic block: Conv k3 (stride) → BN → ReLU → Conv k3 → BN, plus the input (through a
    1×1 strided conv + BN when the shape changes), then ReLU. 'same' padding keeps CONV_2D alone
    in TFLite (an explicit pad would add a PAD op)."""
    _, keras = import_tf()
    layers = keras.layers
    shortcut = x
    y = _conv_bn_relu(x, filters, 3, stride, name=f"{name}_conv1", padding="same")
    y = _conv_bn_relu(y, filters, 3, 1, name=f"{name}_conv2", padding="same", relu=False)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _conv_bn_relu(x, filters, 1, stride, name=f"{name}_shortcut", padding="same", relu=False)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_relu")(y)


def pajusco_resnet(blocks: tuple[int, int, int], num_classes: int = 3, input_samples: int = 180000,
                   channels: int = 2, name: str = "pajusco_resnet"):
    """1-D ResNet: Conv(32, k64, s4) → BN → ReLU, three groups of basic blocks (32, 64, 128
    channels, first block of each group with stride 4), global average pooling, linear logits."""
    _, keras = import_tf()
    layers = keras.layers
    inputs = keras.Input(shape=(input_samples, 1, channels), name="waveform")
    x = _conv_bn_relu(inputs, 32, 64, 4, name="conv1")
    for group, (count, filters) in enumerate(zip(blocks, (32, 64, 128)), start=1):
        for block in range(count):
            x = _basic_block(x, filters, stride=4 if block == 0 else 1, name=f"layer{group}_{block}")
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    logits = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def pajusco_c(num_classes: int = 3, input_samples: int = 180000, channels: int = 2):
    """Model C: ResNet with 3-4-3 basic blocks. 398,400 parameters as the paper counts them."""
    return pajusco_resnet(PAJUSCO_RESNET_BLOCKS["c"], num_classes, input_samples, channels, name="pajusco_c")


def pajusco_d(num_classes: int = 3, input_samples: int = 180000, channels: int = 2):
    """Model D: ResNet with 3-3-3 basic blocks. 373,696 parameters as the paper counts them."""
    return pajusco_resnet(PAJUSCO_RESNET_BLOCKS["d"], num_classes, input_samples, channels, name="pajusco_d")


def paper_weight_count(model) -> int:
    """Parameters as Pajusco et al. count them: every weight tensor (conv and dense kernels, BN
    scale γ), no biases and no BN shift or running statistics."""
    _, keras = import_tf()
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            total += int(layer.gamma.shape.num_elements())
        elif hasattr(layer, "kernel"):
            total += int(layer.kernel.shape.num_elements())
    return total
