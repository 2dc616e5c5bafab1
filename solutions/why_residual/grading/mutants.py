"""The "Why residual networks?" mutants: wrong blocks, networks, gradient norms and zeroings written as
learners really get them wrong, and correct ones that differ legitimately (grader.mutants says how they are
written and run).
"""

from grader.mutants import Variant

CELLS = {
    "plain_block": ["plain_block_structure", "plain_block_values"],
    "residual_block": ["residual_block_structure", "residual_block_values"],
    "make_net": ["make_net_layout"],
    "layer_gradient_norms": ["layer_gradient_norms_values"],
    "zero_last_layer": ["zero_last_layer_identity"],
}

# Lines of the solution, to keep the edits short.
DENSE_BN_RELU = "X = layers.Dense(units)(X)\n    X = layers.BatchNormalization()(X)\n    X = layers.Activation(\"relu\")(X)\n"
SECOND_BN = "X = layers.BatchNormalization()(X)\n\n    X = layers.Add()"
ADD_RELU = "X = layers.Add()([X, shortcut])\n    X = layers.Activation(\"relu\")(X)"
PLAIN_LAST = "X = layers.BatchNormalization()(X)\n    X = layers.Activation(\"relu\")(X)\n    ### END SOLUTION"
GRAD_LOOP = """    norms = []
    for layer in model.layers:
        if isinstance(layer, layers.Dense):
            grad = next(g for w, g in zip(model.trainable_weights, grads) if w is layer.kernel)
            norms.append(np.linalg.norm(grad))
    return np.array(norms)"""
ZERO_LAST = """    last.gamma.assign(np.zeros(last.gamma.shape))
    last.beta.assign(np.zeros(last.beta.shape))"""


MUTANTS = [
    # plain_block
    Variant("plain-with-skip", "plain_block",
            [("    ### BEGIN SOLUTION\n", "    ### BEGIN SOLUTION\n    shortcut = X\n"),
             (PLAIN_LAST, "X = layers.BatchNormalization()(X)\n    X = layers.Add()([X, shortcut])\n"
                          "    X = layers.Activation(\"relu\")(X)\n    ### END SOLUTION")],
            r"A plain block has no skip connection"),
    Variant("plain-no-final-relu", "plain_block", [(PLAIN_LAST, "X = layers.BatchNormalization()(X)\n    ### END SOLUTION")],
            r"must end with a ReLU"),
    Variant("plain-units-hard-coded", "plain_block", [("layers.Dense(units)", "layers.Dense(64)", 2)],
            r"Use the `units` argument", cells=("plain_block_structure", "plain_block_values")),
    Variant("plain-no-batchnorm", "plain_block", [("    X = layers.BatchNormalization()(X)\n", "", 2)],
            r"followed by BatchNormalization"),
    # residual_block
    Variant("residual-skip-missing", "residual_block", [(ADD_RELU, "X = layers.Activation(\"relu\")(X)")],
            r"skip connection is missing"),
    Variant("residual-relu-before-add", "residual_block",
            [(SECOND_BN, "X = layers.BatchNormalization()(X)\n    X = layers.Activation(\"relu\")(X)\n\n    X = layers.Add()")],
            r"ReLU is applied before the addition"),
    Variant("residual-add-after-final-relu", "residual_block",
            [(ADD_RELU, "X = layers.Activation(\"relu\")(X)\n    X = layers.Add()([X, shortcut])")],
            r"ReLU is applied before the addition"),
    Variant("residual-no-relu-after-add", "residual_block", [(ADD_RELU, "X = layers.Add()([X, shortcut])")],
            r"no ReLU after the addition"),
    Variant("residual-shortcut-after-first-layer", "residual_block",
            [("    shortcut = X\n\n", "\n"),
             ("    ### BEGIN SOLUTION\n    X = layers.Dense(units)(X)\n",
              "    ### BEGIN SOLUTION\n    X = layers.Dense(units)(X)\n    shortcut = X\n")],
            r"skip connection must carry X itself"),
    # make_net
    Variant("make-net-ignores-residual", "make_net",
            [("block = residual_block if residual else plain_block", "block = plain_block")],
            r"make_net ignores `residual`"),
    Variant("make-net-always-residual", "make_net",
            [("block = residual_block if residual else plain_block", "block = residual_block")],
            r"make_net ignores `residual`"),
    Variant("make-net-ignores-depth", "make_net", [("for _ in range(depth):", "for _ in range(3):")],
            r"called 3 block\(s\) instead of 2"),
    Variant("make-net-depth-as-layers", "make_net", [("for _ in range(depth):", "for _ in range(depth // 2):")],
            r"depth is the number of blocks, not of layers"),
    Variant("make-net-off-by-one", "make_net", [("for _ in range(depth):", "for _ in range(1, depth):")],
            r"off by one"),
    Variant("make-net-no-stem", "make_net",
            [("    X = layers.Dense(units)(inputs)\n    X = layers.BatchNormalization()(X)\n    X = layers.Activation(\"relu\")(X)\n",
              "    X = inputs\n")],
            r"stem"),
    Variant("make-net-no-softmax", "make_net", [('layers.Dense(classes, activation="softmax")', "layers.Dense(classes)")],
            r"needs a softmax"),
    Variant("make-net-classes-hard-coded", "make_net", [("layers.Dense(classes,", "layers.Dense(6,")],
            r"needs `classes` units"),
    # layer_gradient_norms
    Variant("gradients-of-the-weights", "layer_gradient_norms",
            [("norms.append(np.linalg.norm(grad))", "norms.append(np.linalg.norm(layer.kernel))")],
            r"norms of the weights themselves"),
    Variant("gradients-one-global-norm", "layer_gradient_norms",
            [(GRAD_LOOP, "    return np.array([np.sqrt(sum(np.sum(g ** 2) for g in grads))])")],
            r"single number"),
    Variant("gradients-every-weight", "layer_gradient_norms",
            [(GRAD_LOOP, "    return np.array([np.linalg.norm(g) for g in grads])")],
            r"one per weight tensor"),
    Variant("gradients-inference-mode", "layer_gradient_norms", [("training=True", "training=False")],
            r"inference mode"),
    Variant("gradients-output-first", "layer_gradient_norms", [("for layer in model.layers:", "for layer in model.layers[::-1]:")],
            r"reverse order"),
    Variant("gradients-squared", "layer_gradient_norms",
            [("norms.append(np.linalg.norm(grad))", "norms.append(np.sum(grad ** 2))")],
            r"squared norms"),
    # zero_last_layer
    Variant("zero-bias-left", "zero_last_layer", [("    last.beta.assign(np.zeros(last.beta.shape))\n", "")],
            r"bias \(beta\) is not zero"),
    Variant("zero-first-batchnorm", "zero_last_layer", [("isinstance(layer, layers.BatchNormalization)][-1]",
                                                         "isinstance(layer, layers.BatchNormalization)][0]")],
            r"first BatchNormalization"),
    Variant("zero-the-dense-layer", "zero_last_layer",
            [("last = [layer for layer in block.layers if isinstance(layer, layers.BatchNormalization)][-1]",
              "last = [layer for layer in block.layers if isinstance(layer, layers.Dense)][-1]"),
             (ZERO_LAST, "    last.kernel.assign(np.zeros(last.kernel.shape))\n    last.bias.assign(np.zeros(last.bias.shape))")],
            r"zeroed the last Dense layer"),
    Variant("zero-everything", "zero_last_layer",
            [(ZERO_LAST, "    for layer in block.layers:\n        layer.set_weights([np.zeros(w.shape) for w in layer.get_weights()])")],
            r"also changed other layers"),
]

CORRECT_VARIANTS = [
    Variant("plain-relu-layer", "plain_block", [('layers.Activation("relu")', "layers.ReLU()", 2)]),
    Variant("plain-fused-activation-loop", "plain_block",
            [(DENSE_BN_RELU + "\n    " + DENSE_BN_RELU,
              "for _ in range(2):\n        X = layers.Dense(units)(X)\n        X = layers.BatchNormalization(axis=-1)(X)\n"
              "        X = keras.ops.relu(X)\n")]),
    Variant("residual-plus-operator", "residual_block", [("X = layers.Add()([X, shortcut])", "X = shortcut + X")]),
    Variant("residual-ops-add-relu", "residual_block",
            [(ADD_RELU, "X = keras.ops.relu(keras.ops.add(shortcut, X))")]),
    Variant("residual-add-order-swapped", "residual_block", [("layers.Add()([X, shortcut])", "layers.Add()([shortcut, X])")]),
    Variant("make-net-if-in-loop", "make_net",
            [("    block = residual_block if residual else plain_block\n    for _ in range(depth):\n        X = block(X, units)\n",
              "    for _ in range(depth):\n        if residual:\n            X = residual_block(X, units)\n"
              "        else:\n            X = plain_block(X, units)\n")]),
    Variant("gradients-by-weight-path", "layer_gradient_norms",
            [(GRAD_LOOP, "    return np.array([np.linalg.norm(g) for w, g in zip(model.trainable_weights, grads)\n"
                         "                     if w.path.endswith('kernel')])")]),
    Variant("gradients-index-lookup", "layer_gradient_norms",
            [(GRAD_LOOP, "    ids = [id(w) for w in model.trainable_weights]\n"
                         "    dense = [layer for layer in model.layers if isinstance(layer, layers.Dense)]\n"
                         "    return np.array([np.sqrt(np.sum(grads[ids.index(id(d.kernel))] ** 2)) for d in dense])")]),
    Variant("zero-set-weights", "zero_last_layer",
            [(ZERO_LAST, "    last.set_weights([np.zeros(w.shape) for w in last.get_weights()])")]),
    Variant("zero-ops-zeros-like", "zero_last_layer",
            [(ZERO_LAST, "    last.gamma.assign(keras.ops.zeros_like(last.gamma))\n    last.beta.assign(keras.ops.zeros_like(last.beta))")]),
]
