"""The ResNet assignment's mutants: wrong blocks and models written as learners really get them wrong, and
correct ones that differ legitimately (grader.mutants says how they are written and run).
"""

from grader.mutants import Variant

CELLS = {
    "identity_block": ["identity_block_structure", "identity_block_inference", "identity_block_training"],
    "convolutional_block": ["convolutional_block_structure", "convolutional_block_inference",
                            "convolutional_block_training"],
    "resnet50": ["resnet50_layout", "resnet50_model"],
}
# What a line of the solution looks like, to keep the edits below short.
ID_CONV1 = 'X = layers.Conv2D(F1, kernel_size=1, strides=1, padding="valid", kernel_initializer=initializer(seed=0))(X)'
ID_CONV2 = 'X = layers.Conv2D(F2, kernel_size=f, strides=1, padding="same", kernel_initializer=initializer(seed=0))(X)'
ID_CONV3 = 'X = layers.Conv2D(F3, kernel_size=1, strides=1, padding="valid", kernel_initializer=initializer(seed=0))(X)'
CB_CONV1 = 'X = layers.Conv2D(F1, kernel_size=1, strides=s, padding="valid", kernel_initializer=initializer(seed=0))(X)'
ADD_RELU = 'X = layers.Add()([X, X_shortcut])\n    X = layers.Activation("relu")(X)'
LAST_BN = 'X = layers.BatchNormalization(axis=3)(X)\n\n    X = layers.Add()'
SHORTCUT_BN = "X_shortcut = layers.BatchNormalization(axis=3)(X_shortcut)"


def _both_blocks(name, edits, message, cells=(), kinds=("identity_block", "convolutional_block")):
    return [Variant(f"{kind.split('_')[0]}-{name}", kind, edits, message, cells) for kind in kinds]


MUTANTS = [
    *_both_blocks("shortcut-missing", [(ADD_RELU, 'X = layers.Activation("relu")(X)')], r"shortcut is missing"),
    *_both_blocks("add-after-final-relu",
                  [(ADD_RELU, 'X = layers.Activation("relu")(X)\n    X = layers.Add()([X, X_shortcut])')],
                  r"added after the final ReLU"),
    Variant("identity-relu-before-add", "identity_block",
            [(LAST_BN, 'X = layers.BatchNormalization(axis=3)(X)\n    X = layers.Activation("relu")(X)\n\n    X = layers.Add()')],
            r"ReLU applied before the addition"),
    Variant("conv-relu-before-add", "convolutional_block",
            [("X = layers.BatchNormalization(axis=3)(X)\n\n    X_shortcut =",
              'X = layers.BatchNormalization(axis=3)(X)\n    X = layers.Activation("relu")(X)\n\n    X_shortcut =')],
            r"ReLU applied before the addition"),
    *_both_blocks("valid-padding-on-fxf", [('kernel_size=f, strides=1, padding="same"', 'kernel_size=f, strides=1, padding="valid"')],
                  r"padding='same'"),
    *_both_blocks("bn-wrong-axis", [("BatchNormalization(axis=3)", "BatchNormalization(axis=1)")], r"wrong axis"),
    *_both_blocks("f2-f3-swapped", [("Conv2D(F2, kernel_size=f", "Conv2D(F3, kernel_size=f"),
                                    ("Conv2D(F3, kernel_size=1, strides=1", "Conv2D(F2, kernel_size=1, strides=1")],
                  r"F2 and F3 are swapped"),
    *_both_blocks("initializer-not-used", [("kernel_initializer=initializer(seed=0)", "kernel_initializer=glorot_uniform(seed=0)", 99)],
                  r"does not use the `initializer`"),
    *_both_blocks("training-hard-coded-true", [("BatchNormalization(axis=3)(X)", "BatchNormalization(axis=3)(X, training=True)", 99)],
                  r"training=True hard-coded"),
    *_both_blocks("no-relu-after-first-conv", [('BatchNormalization(axis=3)(X)\n    X = layers.Activation("relu")(X)\n\n    X = layers.Conv2D(F2',
                                                'BatchNormalization(axis=3)(X)\n\n    X = layers.Conv2D(F2')],
                  r"Conv2D -> BatchNorm -> ReLU|2 ReLUs"),
    Variant("identity-f-ignored", "identity_block", [("kernel_size=f, strides=1", "kernel_size=3, strides=1")],
            r"Kernel sizes on the main path"),
    Variant("conv-stride-on-fxf", "convolutional_block",
            [("kernel_size=1, strides=s, padding=\"valid\", kernel_initializer=initializer(seed=0))(X)\n",
              "kernel_size=1, strides=1, padding=\"valid\", kernel_initializer=initializer(seed=0))(X)\n"),
             ("kernel_size=f, strides=1", "kernel_size=f, strides=s")],
            r"stride must be on the first 1x1 conv"),
    Variant("conv-shortcut-stride-missing", "convolutional_block",
            [("X_shortcut = layers.Conv2D(F3, kernel_size=1, strides=s", "X_shortcut = layers.Conv2D(F3, kernel_size=1, strides=1")],
            r"shortcut's 1x1 conv needs strides"),
    Variant("conv-shortcut-no-bn", "convolutional_block", [(SHORTCUT_BN, "")], r"shortcut has no BatchNormalization"),
    Variant("conv-identity-shortcut", "convolutional_block",
            [("X_shortcut = layers.Conv2D(F3, kernel_size=1, strides=s, padding=\"valid\",\n                               kernel_initializer=initializer(seed=0))(X_shortcut)\n", ""),
             (SHORTCUT_BN, "")],
            r"shortcut needs a 1x1 Conv2D"),
    # ResNet50: the blocks are right, the assembly is wrong.
    Variant("resnet-stage2-stride-2", "resnet50", [("filters=[64, 64, 256], s=1", "filters=[64, 64, 256], s=2")],
            r"Stage 2's convolutional block uses s=1"),
    Variant("resnet-wrong-stage-length", "resnet50", [("for _ in range(5):", "for _ in range(4):")],
            r"Stage 4 should have 1 convolutional block \+ 5 identity blocks"),
    Variant("resnet-extra-block", "resnet50", [("for _ in range(2):", "for _ in range(3):")],
            r"Stage 5 should have 1 convolutional block \+ 2 identity blocks"),
    Variant("resnet-global-pool", "resnet50", [("X = layers.AveragePooling2D((2, 2))(X)\n    X = layers.Flatten()(X)",
                                                "X = layers.GlobalAveragePooling2D()(X)")],
            r"not global average pooling"),
    Variant("resnet-no-softmax", "resnet50", [('layers.Dense(classes, activation="softmax"', "layers.Dense(classes")],
            r"needs a softmax"),
    Variant("resnet-classes-hard-coded", "resnet50", [("layers.Dense(classes,", "layers.Dense(6,")],
            r"", cells=("resnet50_layout",)),
    Variant("resnet-missing-stem-pool", "resnet50", [("X = layers.MaxPooling2D((3, 3), strides=(2, 2))(X)\n", "")],
            r"The stem should be"),
    Variant("resnet-stage-filters", "resnet50", [("filters=[256, 256, 1024], s=2", "filters=[256, 256, 512], s=2")],
            r"Stage 4 uses filters"),
    Variant("resnet-extra-trailing-layer", "resnet50",
            [('X = layers.Dense(classes, activation="softmax", kernel_initializer=glorot_uniform(seed=0))(X)',
              'X = layers.Dense(64, activation="relu")(X)\n    X = layers.Dense(classes, activation="softmax", kernel_initializer=glorot_uniform(seed=0))(X)')],
            r"The head should be"),
]

CORRECT_VARIANTS = [
    Variant("identity-add-order-swapped", "identity_block",
            [("X = layers.Add()([X, X_shortcut])", "X = layers.Add()([X_shortcut, X])")]),
    Variant("conv-shortcut-built-first", "convolutional_block",
            [("    ### BEGIN SOLUTION\n",
              "    ### BEGIN SOLUTION\n    X_shortcut = layers.Conv2D(F3, 1, strides=s, padding='valid', kernel_initializer=initializer(seed=0))(X_shortcut)\n"
              "    X_shortcut = layers.BatchNormalization(axis=-1)(X_shortcut)\n"),
             ("X_shortcut = layers.Conv2D(F3, kernel_size=1, strides=s, padding=\"valid\",\n                               kernel_initializer=initializer(seed=0))(X_shortcut)\n", ""),
             (SHORTCUT_BN, "")]),
    *[Variant(f"{k.split('_')[0]}-ops-add", k, [("X = layers.Add()([X, X_shortcut])", "X = keras.ops.add(X, X_shortcut)")])
      for k in ("identity_block", "convolutional_block")],
    Variant("identity-plus-operator", "identity_block", [("X = layers.Add()([X, X_shortcut])", "X = X_shortcut + X")]),
    Variant("conv-layers-add", "convolutional_block", [("X = layers.Add()([X, X_shortcut])", "X = layers.add([X_shortcut, X])")]),
    *[Variant(f"{k.split('_')[0]}-relu-layer", k, [('layers.Activation("relu")', "layers.ReLU()", 99)])
      for k in ("identity_block", "convolutional_block")],
    Variant("identity-axis-minus-one", "identity_block", [("BatchNormalization(axis=3)", "BatchNormalization(axis=-1)", 99)]),
    Variant("identity-named-layers", "identity_block",
            [("    F1, F2, F3 = filters\n", "    F1, F2, F3 = filters\n    block = keras.backend.get_uid('identity')\n"),
             (ID_CONV1, 'X = layers.Conv2D(F1, (1, 1), strides=(1, 1), padding="valid", name=f"id{block}_2a", kernel_initializer=initializer(seed=0))(X)'),
             (ID_CONV2, 'X = layers.Conv2D(filters=F2, kernel_size=(f, f), padding="same", name=f"id{block}_2b", kernel_initializer=initializer(seed=0))(X)')]),
    Variant("conv-helper-function", "convolutional_block",
            [("    F1, F2, F3 = filters\n",
              "    F1, F2, F3 = filters\n\n    def conv_bn(T, n, k, stride, pad):\n"
              "        T = layers.Conv2D(n, k, strides=stride, padding=pad, kernel_initializer=initializer(seed=0))(T)\n"
              "        return layers.BatchNormalization(axis=3)(T)\n"),
             (CB_CONV1 + "\n    X = layers.BatchNormalization(axis=3)(X)", 'X = conv_bn(X, F1, 1, s, "valid")')]),
    Variant("identity-ops-relu", "identity_block", [('X = layers.Activation("relu")(X)\n    ### END SOLUTION', "X = keras.ops.relu(X)\n    ### END SOLUTION")]),
    Variant("resnet-dense-then-softmax-layer", "resnet50",
            [('X = layers.Dense(classes, activation="softmax", kernel_initializer=glorot_uniform(seed=0))(X)',
              'X = layers.Dense(classes)(X)\n    X = layers.Activation("softmax")(X)')]),
    Variant("resnet-loop-over-stages", "resnet50",
            [("    X = convolutional_block(X, f=3, filters=[64, 64, 256], s=1)\n", ""),
             ("    X = identity_block(X, 3, [64, 64, 256])\n    X = identity_block(X, 3, [64, 64, 256])\n",
              "    for filters, s, n in [([64, 64, 256], 1, 2)]:\n        X = convolutional_block(X, 3, filters, s)\n"
              "        for _ in range(n):\n            X = identity_block(X, 3, filters)\n")]),
]
