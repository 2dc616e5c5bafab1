"""A Keras functional graph as a canonical tree of operations, so that two models can be compared by what
they compute, not by the order in which their layers were created or by which API spelled them.

`Add()`, `layers.add`, `keras.ops.add` and `a + b` all become "add" (with unordered inputs);
`Activation('relu')`, `layers.ReLU()` and `keras.ops.relu` become "relu"; a layer with a fused activation
(`Dense(6, activation='softmax')`) becomes the layer followed by its activation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(eq=False)
class Node:
    op: str
    attrs: dict
    inputs: list["Node"]
    layer: object = field(default=None, repr=False)
    shape: tuple | None = None
    key: str = ""

    def signature(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in sorted(self.attrs.items()))
        return f"{self.op}({inner})"

    def __repr__(self) -> str:
        return f"<{self.signature()} -> {self.shape}>"


COMMUTATIVE = {"add"}


def _activation_name(fn) -> str:
    name = getattr(fn, "__name__", str(fn))
    return "identity" if name == "linear" else name


def describe(op, input_shape) -> tuple[str, dict, str | None]:
    """(canonical op, attributes, fused activation or None) for a Keras layer or operation."""
    from keras import layers

    cls = type(op).__name__
    rank = len(input_shape) if input_shape is not None else None
    fused = None
    if isinstance(op, layers.InputLayer):
        return "input", {}, None
    if isinstance(op, layers.Conv2D):
        attrs = dict(filters=op.filters, kernel=tuple(op.kernel_size), strides=tuple(op.strides),
                     padding=op.padding, bias=op.use_bias)
        fused = _activation_name(op.activation)
        return "conv", attrs, None if fused == "identity" else fused
    if isinstance(op, layers.BatchNormalization):
        axis = op.axis if isinstance(op.axis, int) else (op.axis[0] if len(op.axis) == 1 else tuple(op.axis))
        if isinstance(axis, int) and rank is not None and axis < 0:
            axis += rank
        return "bn", dict(axis=axis, center=op.center, scale=op.scale), None
    if isinstance(op, layers.Activation):
        return _activation_name(op.activation), {}, None
    if isinstance(op, layers.ReLU):
        if op.max_value is None and not op.negative_slope and not op.threshold:
            return "relu", {}, None
        return "relu", dict(max_value=op.max_value, negative_slope=op.negative_slope, threshold=op.threshold), None
    if isinstance(op, layers.Softmax):
        return "softmax", {}, None
    if isinstance(op, layers.Add) or (cls == "Add" and not isinstance(op, layers.Layer)):
        return "add", {}, None
    if cls in ("Relu", "Softmax") and not isinstance(op, layers.Layer):  # keras.ops.relu / softmax
        return cls.lower(), {}, None
    if isinstance(op, layers.ZeroPadding2D):
        return "zeropad", dict(padding=tuple(tuple(p) for p in op.padding)), None
    if isinstance(op, layers.MaxPooling2D):
        return "maxpool", dict(pool=tuple(op.pool_size), strides=tuple(op.strides), padding=op.padding), None
    if isinstance(op, layers.AveragePooling2D):
        return "avgpool", dict(pool=tuple(op.pool_size), strides=tuple(op.strides), padding=op.padding), None
    if isinstance(op, layers.GlobalAveragePooling2D):
        return "global_avgpool", {}, None
    if isinstance(op, layers.Flatten):
        return "flatten", {}, None
    if isinstance(op, layers.Dense):
        fused = _activation_name(op.activation)
        return "dense", dict(units=op.units, bias=op.use_bias), None if fused == "identity" else fused
    return cls, {}, None


def trace(tensor) -> Node:
    """The canonical tree that produced a symbolic Keras tensor (a functional model's output)."""
    memo: dict[tuple[int, int, int], Node] = {}

    def visit(t) -> Node:
        history = getattr(t, "_keras_history", None)
        if history is None:
            raise TypeError(f"expected a symbolic Keras tensor (from keras.Input), got {type(t).__name__}")
        op, node_index, tensor_index = history
        ident = (id(op), node_index, tensor_index)
        if ident in memo:
            return memo[ident]
        knode = op._inbound_nodes[node_index]
        parents = [visit(p) for p in knode.input_tensors]
        in_shape = tuple(knode.input_tensors[0].shape) if knode.input_tensors else None
        name, attrs, fused = describe(op, in_shape)
        training = knode.arguments.kwargs.get("training") if knode.arguments is not None else None
        if training is not None:  # a mode hard-coded at the call site overrides Keras's fit/predict choice
            attrs = {**attrs, "training": bool(training)}
        node = Node(name, attrs, parents, layer=op, shape=tuple(t.shape))
        if fused:
            node = Node(fused, {}, [node], layer=op, shape=tuple(t.shape))
        memo[ident] = node
        return node

    root = visit(tensor)
    _assign_keys(root)
    return root


def _assign_keys(root: Node) -> None:
    """A content hash per node: equal keys mean equal computations, whatever the creation order."""
    done: set[int] = set()

    def visit(node: Node) -> str:
        if id(node) in done:
            return node.key
        child_keys = [visit(p) for p in node.inputs]
        if node.op in COMMUTATIVE:
            child_keys.sort()
        text = node.signature() + "[" + ",".join(child_keys) + "]"
        node.key = hashlib.sha1(text.encode()).hexdigest()
        done.add(id(node))
        return node.key

    visit(root)


def nodes(root: Node) -> list[Node]:
    """Every node once, inputs before the nodes that use them."""
    seen: dict[int, Node] = {}

    def visit(node: Node) -> None:
        if id(node) in seen:
            return
        for p in node.inputs:
            visit(p)
        seen[id(node)] = node

    visit(root)
    return list(seen.values())


def chain(node: Node, stop: Node | None = None) -> list[Node]:
    """The single-input path that ends at `node`, walking back until `stop`, a merge, or the input."""
    path = []
    while node is not stop and node.op != "input" and len(node.inputs) == 1:
        path.append(node)
        node = node.inputs[0]
    if node is not stop and node.op != "input":
        path.append(node)  # the merge (or multi-input op) that starts this path
    return path[::-1]


def first_difference(expected: Node, actual: Node, path: str = "output") -> str | None:
    """Where two graphs first compute something different, in words; None when they are the same."""
    if expected.key == actual.key:
        return None
    if expected.signature() != actual.signature():
        return (f"at {path}: expected {expected.signature()} with output shape {expected.shape}, "
                f"found {actual.signature()} with output shape {actual.shape}")
    if len(expected.inputs) != len(actual.inputs):
        return f"at {path}: {expected.op} should have {len(expected.inputs)} inputs, found {len(actual.inputs)}"
    pairs = list(zip(expected.inputs, actual.inputs))
    if expected.op in COMMUTATIVE:
        unmatched = [a for a in actual.inputs if a.key not in {e.key for e in expected.inputs}]
        missing = [e for e in expected.inputs if e.key not in {a.key for a in actual.inputs}]
        pairs = list(zip(missing, unmatched))
    for k, (e, a) in enumerate(pairs):
        found = first_difference(e, a, f"{path} <- {expected.op}[{k}]")
        if found:
            return found
    return f"at {path}: the inputs of {expected.op} differ"


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def to_data(root: Node) -> list[dict]:
    """The graph as JSON-ready data (inputs by index), to store a reference graph instead of rebuilding it."""
    order = nodes(root)
    index = {id(n): i for i, n in enumerate(order)}
    return [{"op": n.op, "attrs": n.attrs, "inputs": [index[id(p)] for p in n.inputs], "shape": n.shape}
            for n in order]


def from_data(data: list[dict]) -> Node:
    built: list[Node] = []
    for item in data:
        attrs = {k: _tuples(v) for k, v in item["attrs"].items()}
        shape = _tuples(item["shape"]) if item["shape"] is not None else None
        built.append(Node(item["op"], attrs, [built[i] for i in item["inputs"]], shape=shape))
    root = built[-1]
    _assign_keys(root)
    return root
