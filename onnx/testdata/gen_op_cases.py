#!/usr/bin/python3
"""Per-operator conformance cases for the ONNX importer (onnx/ops_test.go).

    /usr/bin/python3 onnx/testdata/gen_op_cases.py   # models, inputs, cases.json
    node onnx/testdata/op_cases_ort.js               # ONNX Runtime's outputs

writes onnx/testdata/ops/ (committed; see ops/README.md): for every case a
tiny model <case>.onnx, its graph inputs <case>.in.<input>.npy and the
manifest cases.json. op_cases_ort.js then runs every case in ONNX Runtime
1.30 and writes its outputs <case>.ort.<output>.npy.

The models are written node by node as ModelProto bytes (the protobuf wire
format is encoded here: neither the `onnx` Python package nor a generated
protobuf module is needed, only NumPy), so that every attribute form of
every opset is what the case says: Clip's min/max attributes before opset 11
and inputs from it, Squeeze/Unsqueeze/Split/Reduce* axes attributes versus
inputs, Slice attributes at 9 versus inputs at 10 and later, and so on.

Inputs are NumPy default_rng(crc32(case name)) draws, so a case's data does
not change when other cases are added. The generator deletes what it wrote
before (*.onnx, *.npy, cases.json in ops/) and writes it all again; the
output is byte-for-byte reproducible.
"""

import json
import os
import re
import struct
import sys
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, 'ops')
ONNX_GO = os.path.join(HERE, '..')

# ---------------------------------------------------------------------------
# Protobuf wire format (the fields of onnx/internal/onnxpb/onnx.proto).

ELEM = {'float32': 1, 'uint8': 2, 'int8': 3, 'int32': 6, 'int64': 7, 'bool': 9,
        'float16': 10, 'float64': 11}


def _varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field, wire):
    return _varint(field << 3 | wire)


def pb_int(field, v):
    return _key(field, 0) + _varint(int(v))


def pb_bytes(field, b):
    if isinstance(b, str):
        b = b.encode()
    return _key(field, 2) + _varint(len(b)) + b


def pb_float(field, v):
    return _key(field, 5) + struct.pack('<f', v)


def tensor_proto(name, arr):
    arr = np.asarray(arr)
    dt = str(arr.dtype)
    b = b''.join(pb_int(1, d) for d in arr.shape)
    b += pb_int(2, ELEM[dt])
    if name:
        b += pb_bytes(8, name)
    raw = arr.astype(np.uint8).tobytes() if dt == 'bool' else arr.astype(arr.dtype.newbyteorder('<')).tobytes()
    b += pb_bytes(9, raw)
    return b


# AttributeProto.AttributeType
A_FLOAT, A_INT, A_STRING, A_TENSOR, A_FLOATS, A_INTS, A_STRINGS = 1, 2, 3, 4, 6, 7, 8


class Floats(list):
    """An attribute that is a list of floats even when its values are whole."""


def attr_proto(name, v):
    b = pb_bytes(1, name)
    if isinstance(v, bool):
        raise TypeError(f'attribute {name}: bool')
    if isinstance(v, np.ndarray):
        return b + pb_bytes(5, tensor_proto('', v)) + pb_int(20, A_TENSOR)
    if isinstance(v, float):
        return b + pb_float(2, v) + pb_int(20, A_FLOAT)
    if isinstance(v, int):
        return b + pb_int(3, v) + pb_int(20, A_INT)
    if isinstance(v, str):
        return b + pb_bytes(4, v) + pb_int(20, A_STRING)
    if isinstance(v, (list, tuple)):
        if isinstance(v, Floats) or any(isinstance(x, float) for x in v):
            return b + b''.join(pb_float(7, float(x)) for x in v) + pb_int(20, A_FLOATS)
        if v and all(isinstance(x, str) for x in v):
            return b + b''.join(pb_bytes(9, x) for x in v) + pb_int(20, A_STRINGS)
        return b + b''.join(pb_int(8, x) for x in v) + pb_int(20, A_INTS)
    raise TypeError(f'attribute {name}: {type(v)}')


def node_proto(op, inputs, outputs, name, attrs):
    b = b''.join(pb_bytes(1, i) for i in inputs)
    b += b''.join(pb_bytes(2, o) for o in outputs)
    b += pb_bytes(3, name) + pb_bytes(4, op)
    for k in sorted(attrs):
        b += pb_bytes(5, attr_proto(k, attrs[k]))
    return b


def value_info(name, dtype, shape):
    t = pb_int(1, ELEM[dtype])
    if shape is not None:
        t += pb_bytes(2, b''.join(pb_bytes(1, pb_int(1, d)) for d in shape))
    return pb_bytes(1, name) + pb_bytes(2, pb_bytes(1, t))


def ir_version(opset):
    # The IR version each ONNX release paired with its opset.
    return {7: 3, 8: 3, 9: 4, 10: 5, 11: 6, 12: 7, 13: 7, 14: 7}.get(opset, 8)


# ---------------------------------------------------------------------------
# Case descriptions. Arrays may be given as NumPy arrays or as Rand specs
# drawn with the case's own generator when the case is built.


class Rand:
    def __init__(self, kind, shape, **kw):
        self.kind, self.shape, self.kw = kind, tuple(shape), kw

    def draw(self, rng):
        kw = self.kw
        if self.kind == 'f':
            x = rng.standard_normal(self.shape) * kw.get('scale', 1.0)
            if kw.get('pos'):
                x = np.abs(x) + kw.get('lo', 0.1)
            elif kw.get('nonzero'):
                x = np.sign(x + 1e-12) * (np.abs(x) + 0.5)
            elif kw.get('grid'):  # few distinct values: ties and equalities
                x = rng.integers(-2, 3, self.shape) * 0.5
            elif kw.get('zeros', True) and x.size >= 8:
                x.flat[rng.choice(x.size, max(1, x.size // 12), replace=False)] = 0
            return x.astype(np.float32)
        if self.kind == 'i':
            return rng.integers(kw.get('lo', -5), kw.get('hi', 6), self.shape).astype(np.int64)
        if self.kind == 'b':
            return rng.random(self.shape) < 0.5
        raise ValueError(self.kind)


def F(*shape, **kw):
    return Rand('f', shape, **kw)


def I(*shape, **kw):
    return Rand('i', shape, **kw)


def B(*shape):
    return Rand('b', shape)


class C:
    """Marks a value as an initializer (a constant of the model)."""

    def __init__(self, v):
        self.v = v


def f32(*v):
    return np.array(v, dtype=np.float32)


def i64(*v):
    return np.array(v, dtype=np.int64)


INT64_MAX = 2**63 - 1
INT64_MIN = -2**63

CASES = []
NAMES = set()


class Case:
    def __init__(self, name, op, opset, tol='default', refuse=None, refuse_at='load', note=None):
        if not re.fullmatch(r'[A-Za-z0-9_]+', name):
            raise ValueError(f'case name {name!r}')
        if name in NAMES:
            raise ValueError(f'duplicate case {name}')
        NAMES.add(name)
        self.name, self.op, self.opset = name, op, opset
        self.tol, self.refuse, self.refuse_at, self.note = tol, refuse, refuse_at, note
        self.rng = np.random.default_rng(zlib.crc32(name.encode()))
        self.inputs = {}   # name -> array (graph inputs)
        self.inits = {}    # name -> array (initializers)
        self.nodes = []
        self.outputs = []  # (name, dtype)

    def value(self, name, v):
        """Adds a graph input (or an initializer for C(...)) and returns its name."""
        const = isinstance(v, C)
        if const:
            v = v.v
        if isinstance(v, Rand):
            v = v.draw(self.rng)
        v = np.asarray(v)
        (self.inits if const else self.inputs)[name] = v
        return name

    def node(self, op, inputs, outputs, name=None, **attrs):
        self.nodes.append((op, list(inputs), list(outputs), name or f'{op.lower()}{len(self.nodes)}', attrs))

    def output(self, name, dtype='float32'):
        self.outputs.append((name, dtype))

    def model_bytes(self):
        g = b''.join(pb_bytes(1, node_proto(op, i, o, n, a)) for op, i, o, n, a in self.nodes)
        g += pb_bytes(2, self.name)
        for k, v in self.inits.items():
            g += pb_bytes(5, tensor_proto(k, v))
        for k, v in self.inputs.items():
            g += pb_bytes(11, value_info(k, str(v.dtype), v.shape))
        if ir_version(self.opset) < 4:  # IR 3: initializers are graph inputs too
            for k, v in self.inits.items():
                g += pb_bytes(11, value_info(k, str(v.dtype), v.shape))
        for k, dt in self.outputs:
            g += pb_bytes(12, value_info(k, dt, None))
        m = pb_int(1, ir_version(self.opset)) + pb_bytes(2, 'wgtensor gen_op_cases.py') + pb_bytes(3, '1')
        m += pb_bytes(7, g) + pb_bytes(8, pb_bytes(1, '') + pb_int(2, self.opset))
        return m


def single(op, opset, tag, ins, outs=('y',), tol='default', refuse=None, refuse_at='load', note=None, **attrs):
    """A case of one node. ins: list of (name, value) in the node's input
    order, ('', None) for an omitted optional input; outs: output names,
    or (name, dtype) pairs (dtype float32 by default)."""
    name = f'{op}_{opset}' + (f'_{tag}' if tag else '')
    c = Case(name, op, opset, tol=tol, refuse=refuse, refuse_at=refuse_at, note=note)
    names = []
    for n, v in ins:
        names.append(c.value(n, v) if n else '')
    onames = []
    for o in outs:
        o, dt = (o, 'float32') if isinstance(o, str) else o
        onames.append(o)
        if o:
            c.output(o, dt)
    c.node(op, names, onames, name=f'node_{op}', **attrs)
    CASES.append(c)
    return c


def multi(name, op, opset, tol='default', note=None):
    c = Case(name, op, opset, tol=tol, note=note)
    CASES.append(c)
    return c


# ---------------------------------------------------------------------------
# The cases.

def elementwise():
    pos = {'Log', 'Sqrt', 'Reciprocal'}
    for op, opsets in [('Relu', [7, 13, 14]), ('Sigmoid', [7, 13]), ('Tanh', [7, 13]), ('Exp', [7, 13]),
                       ('Log', [7, 13]), ('Sqrt', [7, 13]), ('Abs', [7, 13]), ('Neg', [7, 13]),
                       ('Reciprocal', [7, 13]), ('Erf', [9, 13]), ('Sin', [7]), ('Cos', [7]), ('Sign', [9, 13])]:
        x = F(2, 3, 4, pos=op in pos, scale=2.0 if op in ('Sin', 'Cos', 'Erf') else 1.0)
        for o in opsets:
            single(op, o, '', [('x', x)])
        single(op, opsets[-1], 'const', [('x', C(x))])  # folded at Load: the host form
    for op in ['Abs', 'Neg', 'Sign']:
        single(op, 13, 'int64', [('x', I(2, 5))], outs=[('y', 'int64')])
        single(op, 13, 'int64_const', [('x', C(I(2, 5)))], outs=[('y', 'int64')])

    single('Identity', 7, '', [('x', F(2, 3))])
    single('Identity', 13, 'int64', [('x', I(4))], outs=[('y', 'int64')])
    single('Identity', 16, '', [('x', F(3, 1, 2))])
    single('Dropout', 7, 'ratio', [('x', F(2, 3))], ratio=0.3)
    single('Dropout', 10, '', [('x', F(2, 3))])
    single('Dropout', 12, 'ratio_input', [('x', F(2, 3)), ('r', C(np.array(0.25, np.float32)))])
    single('Dropout', 13, '', [('x', F(2, 3, 2))])
    single('Dropout', 13, 'mask_output', [('x', F(2, 3))], outs=['y', ('mask', 'bool')],
           refuse='the mask output of Dropout is not supported')

    single('LeakyRelu', 7, '', [('x', F(3, 4))])
    single('LeakyRelu', 16, 'alpha', [('x', F(3, 4))], alpha=0.2)
    single('HardSigmoid', 7, '', [('x', F(3, 4, scale=3))])
    single('HardSigmoid', 7, 'alpha_beta', [('x', F(3, 4, scale=3))], alpha=0.3, beta=0.4)
    single('HardSwish', 14, '', [('x', F(3, 5, scale=4))])
    single('HardSwish', 14, 'const', [('x', C(F(3, 5, scale=4)))])

    x = F(3, 4, scale=2)
    single('Clip', 7, 'min_max', [('x', x)], min=-0.5, max=0.7)
    single('Clip', 7, 'min', [('x', x)], min=-0.5)
    single('Clip', 7, 'none', [('x', x)])
    single('Clip', 10, 'max', [('x', x)], max=0.25)
    single('Clip', 11, 'min_max', [('x', x), ('lo', C(np.float32(-0.5))), ('hi', C(np.float32(0.7)))])
    single('Clip', 11, 'max_only', [('x', x), ('', None), ('hi', C(np.float32(0.3)))])
    single('Clip', 12, 'int64', [('x', I(3, 4)), ('lo', C(np.int64(-2))), ('hi', C(np.int64(3)))], outs=[('y', 'int64')])
    single('Clip', 13, 'min_max', [('x', x), ('lo', C(np.float32(-1))), ('hi', C(np.float32(1)))])
    single('Clip', 13, 'min_max_input', [('x', x), ('lo', np.float32(-0.4)), ('hi', np.float32(0.9))])
    single('Clip', 13, 'const', [('x', C(x)), ('lo', C(np.float32(-1))), ('hi', C(np.float32(1)))])

    # Arithmetic with broadcasting.
    for op, opsets in [('Add', [7, 13, 14]), ('Sub', [7, 13, 14]), ('Mul', [7, 13, 14]), ('Div', [7, 13, 14])]:
        b = (lambda *s: F(*s, nonzero=True)) if op == 'Div' else F
        for o in opsets:
            single(op, o, 'same', [('a', F(2, 3, 4)), ('b', b(2, 3, 4))])
        single(op, 13, 'bcast_vec', [('a', F(2, 3, 4)), ('b', b(4))])
        single(op, 13, 'bcast_both', [('a', F(2, 1, 4)), ('b', b(3, 1))])
        single(op, 13, 'bcast_scalar', [('a', F(2, 3)), ('b', b())])
        single(op, 13, 'const_b', [('a', F(2, 3)), ('b', C(b(3)))])
        single(op, 13, 'const', [('a', C(F(2, 3))), ('b', C(b(3)))])
        single(op, 7, 'int64', [('a', I(2, 6, lo=-9, hi=10)), ('b', I(6, lo=1, hi=4) if op == 'Div' else I(6))], outs=[('y', 'int64')])
        single(op, 13, 'int64_const', [('a', C(I(2, 6, lo=-9, hi=10))), ('b', C(I(6, lo=1, hi=4) if op == 'Div' else I(6)))],
               outs=[('y', 'int64')])
    single('Div', 13, 'int64_negative', [('a', C(i64(7, -7, 7, -7, 9, -9))), ('b', i64(2, 2, -2, -2, 4, 5))], outs=[('y', 'int64')])
    single('Pow', 7, '', [('a', F(2, 3, pos=True)), ('b', F(2, 3, scale=0.5))])
    single('Pow', 12, 'square_negative_base', [('a', F(2, 3, 4)), ('b', C(np.float32(2)))])
    single('Pow', 13, 'cube_negative_base', [('a', F(2, 3)), ('b', C(np.float32(3)))])
    single('Pow', 13, 'bcast', [('a', F(2, 3, pos=True)), ('b', F(3, scale=0.7))])
    single('Pow', 15, 'int64_exponent', [('a', F(2, 3)), ('b', C(np.int64(2)))])
    single('Pow', 15, 'const', [('a', C(F(2, 3, pos=True))), ('b', C(np.float32(0.5)))])

    # Comparisons (bool results) and logic.
    g = lambda *s: F(*s, grid=True)
    single('Equal', 7, 'int64', [('a', I(3, 4, lo=-2, hi=3)), ('b', I(4, lo=-2, hi=3))], outs=[('y', 'bool')])
    single('Equal', 11, 'float', [('a', g(3, 4)), ('b', g(3, 4))], outs=[('y', 'bool')])
    single('Equal', 13, 'float_bcast', [('a', g(2, 3, 4)), ('b', g(3, 1))], outs=[('y', 'bool')])
    single('Equal', 13, 'bool', [('a', B(3, 4)), ('b', B(3, 4))], outs=[('y', 'bool')])
    single('Equal', 13, 'int64_const', [('a', C(I(3, 4, lo=-2, hi=3))), ('b', C(I(4, lo=-2, hi=3)))], outs=[('y', 'bool')])
    for op in ['Less', 'Greater']:
        single(op, 7, '', [('a', g(3, 4)), ('b', g(3, 4))], outs=[('y', 'bool')])
        single(op, 9, 'int64', [('a', I(3, 4, lo=-2, hi=3)), ('b', I(4, lo=-2, hi=3))], outs=[('y', 'bool')])
        single(op, 13, 'bcast', [('a', g(2, 3, 4)), ('b', g(4))], outs=[('y', 'bool')])
        single(op, 13, 'const', [('a', C(g(3, 4))), ('b', C(g(4)))], outs=[('y', 'bool')])
    for op in ['LessOrEqual', 'GreaterOrEqual']:
        single(op, 12, '', [('a', g(3, 4)), ('b', g(3, 4))], outs=[('y', 'bool')])
        single(op, 16, 'bcast', [('a', g(2, 3, 4)), ('b', g(3, 1))], outs=[('y', 'bool')])
        single(op, 16, 'int64', [('a', I(3, 4, lo=-2, hi=3)), ('b', I(3, 4, lo=-2, hi=3))], outs=[('y', 'bool')])
        single(op, 16, 'const', [('a', C(g(3, 4))), ('b', C(g(4)))], outs=[('y', 'bool')])
    for op in ['And', 'Or', 'Xor']:
        single(op, 7, '', [('a', B(3, 4)), ('b', B(3, 4))], outs=[('y', 'bool')])
        single(op, 7, 'bcast', [('a', B(2, 3, 4)), ('b', B(4))], outs=[('y', 'bool')])
        single(op, 13, 'const', [('a', C(B(3, 4))), ('b', C(B(1, 4)))], outs=[('y', 'bool')])
    single('Not', 7, '', [('x', B(3, 4))], outs=[('y', 'bool')])
    single('Not', 13, 'const', [('x', C(B(3, 4)))], outs=[('y', 'bool')])

    single('Where', 9, '', [('c', B(3, 4)), ('a', F(3, 4)), ('b', F(3, 4))])
    single('Where', 16, 'bcast', [('c', B(3, 1)), ('a', F(2, 3, 4)), ('b', F(4))])
    single('Where', 16, 'int64', [('c', B(3, 4)), ('a', I(3, 4)), ('b', I(4))], outs=[('y', 'int64')])
    single('Where', 16, 'const_branches', [('c', B(2, 3)), ('a', C(F(3))), ('b', C(np.float32(-1e4)))])
    single('Where', 16, 'const', [('c', C(B(2, 3))), ('a', C(F(3))), ('b', C(F(2, 1)))])

    # Cast (TensorProto.DataType numbers).
    xf = F(3, 4, scale=3)
    for o in [7, 9, 13]:
        single('Cast', o, 'float_int64', [('x', xf)], outs=[('y', 'int64')], to=7)
        single('Cast', o, 'int64_float', [('x', I(3, 4, lo=-100, hi=100))], to=1)
    single('Cast', 13, 'float_bool', [('x', xf)], outs=[('y', 'bool')], to=9)
    single('Cast', 13, 'bool_float', [('x', B(3, 4))], to=1)
    single('Cast', 13, 'bool_int64', [('x', B(3, 4))], outs=[('y', 'int64')], to=7)
    single('Cast', 13, 'int64_bool', [('x', I(3, 4, lo=-2, hi=3))], outs=[('y', 'bool')], to=9)
    single('Cast', 13, 'float_int32', [('x', xf)], outs=[('y', 'int32')], to=6)
    single('Cast', 13, 'int64_int32', [('x', I(3, 4, lo=-100, hi=100))], outs=[('y', 'int32')], to=6)
    single('Cast', 13, 'float_double', [('x', xf)], outs=[('y', 'float64')], to=11)
    single('Cast', 13, 'float_int64_const', [('x', C(xf))], outs=[('y', 'int64')], to=7)
    single('Cast', 13, 'float_bool_const', [('x', C(xf))], outs=[('y', 'bool')], to=9)
    single('Cast', 13, 'int64_float_const', [('x', C(I(5, lo=-100, hi=100)))], to=1)
    for tag, const in [('', False), ('_const', True)]:
        c = multi(f'Cast_13_float_float16_float{tag}', 'Cast', 13)
        x = c.value('x', C(F(3, 4, scale=3)) if const else F(3, 4, scale=3))
        c.node('Cast', [x], ['h'], to=10)
        c.node('Cast', ['h'], ['y'], to=1)
        c.output('y')

    # Variadic.
    for op in ['Max', 'Min', 'Sum', 'Mean']:
        single(op, 8, 'one', [('a', F(3, 4))])
        single(op, 8, 'two_bcast', [('a', F(3, 4)), ('b', F(4))])
        single(op, 13, 'three_bcast', [('a', F(2, 1, 4)), ('b', F(3, 1)), ('c', F(2, 3, 4))])
        single(op, 13, 'const_input', [('a', F(3, 4)), ('b', C(F(1, 4)))])
    for op in ['Max', 'Min']:
        single(op, 13, 'int64', [('a', I(3, 4)), ('b', I(4))], outs=[('y', 'int64')])
    single('Max', 7, 'opset7', [('a', F(3, 4)), ('b', F(3, 4))],
           note='Max-6 (no broadcasting) is what opset 7 has: a subset of what the importer implements')


def nn_ops():
    # Conv. Inputs [N, C, H, W], weights [M, C/group, kH, kW].
    for o in [7, 11]:
        single('Conv', o, 'basic', [('x', F(1, 2, 5, 5)), ('w', C(F(3, 2, 3, 3))), ('b', C(F(3)))])
        single('Conv', o, 'pads', [('x', F(1, 2, 5, 5)), ('w', C(F(3, 2, 3, 3))), ('b', C(F(3)))], pads=[1, 1, 1, 1])
    single('Conv', 11, 'no_bias', [('x', F(2, 2, 5, 6)), ('w', C(F(3, 2, 3, 3)))])
    single('Conv', 11, 'kernel_shape', [('x', F(1, 2, 5, 5)), ('w', C(F(3, 2, 3, 3)))], kernel_shape=[3, 3])
    single('Conv', 11, 'pads_asym', [('x', F(1, 2, 5, 5)), ('w', C(F(3, 2, 3, 3))), ('b', C(F(3)))], pads=[0, 1, 2, 1])
    single('Conv', 11, 'strides', [('x', F(1, 2, 7, 7)), ('w', C(F(3, 2, 3, 3))), ('b', C(F(3)))], strides=[2, 2], pads=[1, 1, 1, 1])
    single('Conv', 11, 'strides_rect', [('x', F(1, 2, 7, 8)), ('w', C(F(2, 2, 2, 3)))], strides=[1, 2])
    single('Conv', 11, 'dilations', [('x', F(1, 2, 7, 7)), ('w', C(F(2, 2, 3, 3)))], dilations=[2, 2], pads=[2, 2, 2, 2])
    single('Conv', 11, 'dilations_rect', [('x', F(1, 1, 8, 9)), ('w', C(F(2, 1, 2, 3)))], dilations=[3, 2], strides=[2, 1])
    single('Conv', 11, 'group2', [('x', F(1, 4, 5, 5)), ('w', C(F(6, 2, 3, 3))), ('b', C(F(6)))], group=2, pads=[1, 1, 1, 1])
    single('Conv', 11, 'depthwise', [('x', F(1, 3, 6, 6)), ('w', C(F(3, 1, 3, 3))), ('b', C(F(3)))], group=3, pads=[1, 1, 1, 1])
    single('Conv', 11, 'depthwise_x2', [('x', F(1, 3, 6, 6)), ('w', C(F(6, 1, 3, 3)))], group=3, strides=[2, 2])
    single('Conv', 11, '1x1', [('x', F(2, 4, 3, 3)), ('w', C(F(5, 4, 1, 1))), ('b', C(F(5)))])
    for ap in ['SAME_UPPER', 'SAME_LOWER', 'VALID']:
        single('Conv', 11, f'auto_pad_{ap.lower()}', [('x', F(1, 2, 6, 7)), ('w', C(F(2, 2, 3, 3)))], auto_pad=ap, strides=[2, 2])
        single('Conv', 11, f'auto_pad_{ap.lower()}_k4', [('x', F(1, 1, 5, 5)), ('w', C(F(2, 1, 4, 4)))], auto_pad=ap)
    single('Conv', 7, 'auto_pad_same_upper', [('x', F(1, 2, 5, 5)), ('w', C(F(2, 2, 3, 3)))], auto_pad='SAME_UPPER')
    single('Conv', 11, 'weights_input', [('x', F(1, 2, 5, 5)), ('w', F(3, 2, 3, 3)), ('b', F(3))], pads=[1, 0, 1, 0])
    single('Conv', 11, '1d', [('x', F(1, 2, 9)), ('w', C(F(3, 2, 3))), ('b', C(F(3)))])
    single('Conv', 11, '1d_pads_strides_dilations', [('x', F(2, 2, 11)), ('w', C(F(3, 2, 3)))], pads=[1, 2], strides=[2], dilations=[2])
    single('Conv', 11, '1d_auto_pad_same_upper', [('x', F(1, 2, 8)), ('w', C(F(2, 2, 4)))], auto_pad='SAME_UPPER', strides=[3])
    single('Conv', 11, '1d_group', [('x', F(1, 4, 7)), ('w', C(F(4, 1, 3)))], group=4, kernel_shape=[3])
    single('Conv', 11, '3d', [('x', F(1, 1, 3, 3, 3)), ('w', C(F(1, 1, 2, 2, 2)))], refuse='only 1-D and 2-D', refuse_at='run',
           note='3-D convolution; refused when it runs (the input rank is known then)')
    single('Conv', 11, '3d_kernel_shape', [('x', F(1, 1, 3, 3, 3)), ('w', C(F(1, 1, 2, 2, 2)))], kernel_shape=[2, 2, 2],
           refuse='only 1-D and 2-D', refuse_at='run')

    # ConvTranspose. Weights [C, M/group, kH, kW].
    for o in [7, 11]:
        single('ConvTranspose', o, 'basic', [('x', F(1, 2, 3, 3)), ('w', C(F(2, 3, 3, 3))), ('b', C(F(3)))])
    single('ConvTranspose', 11, 'strides', [('x', F(1, 2, 3, 4)), ('w', C(F(2, 2, 3, 3)))], strides=[2, 2])
    single('ConvTranspose', 11, 'strides_pads', [('x', F(1, 2, 3, 3)), ('w', C(F(2, 2, 3, 3))), ('b', C(F(2)))], strides=[2, 2], pads=[1, 1, 1, 1])
    single('ConvTranspose', 11, 'pads_asym', [('x', F(1, 1, 4, 4)), ('w', C(F(1, 2, 3, 3)))], strides=[2, 2], pads=[0, 1, 2, 1])
    single('ConvTranspose', 11, 'output_padding', [('x', F(1, 2, 3, 3)), ('w', C(F(2, 2, 3, 3)))], strides=[2, 2], pads=[1, 1, 1, 1],
           output_padding=[1, 1])
    single('ConvTranspose', 11, 'output_padding_rect', [('x', F(1, 1, 3, 4)), ('w', C(F(1, 2, 2, 3)))], strides=[3, 2], output_padding=[2, 0])
    single('ConvTranspose', 11, 'output_shape', [('x', F(1, 2, 3, 3)), ('w', C(F(2, 2, 3, 3)))], strides=[2, 2], output_shape=[6, 6])
    single('ConvTranspose', 11, 'output_shape_odd', [('x', F(1, 1, 3, 3)), ('w', C(F(1, 2, 3, 3)))], strides=[2, 2], output_shape=[6, 5])
    single('ConvTranspose', 11, 'group2', [('x', F(1, 4, 3, 3)), ('w', C(F(4, 3, 3, 3))), ('b', C(F(6)))], group=2, strides=[2, 1])
    single('ConvTranspose', 11, 'depthwise', [('x', F(1, 3, 4, 4)), ('w', C(F(3, 1, 2, 2)))], group=3, strides=[2, 2])
    single('ConvTranspose', 11, 'dilations', [('x', F(1, 2, 3, 3)), ('w', C(F(2, 2, 3, 3)))], dilations=[2, 2])
    for ap in ['SAME_UPPER', 'SAME_LOWER']:
        single('ConvTranspose', 11, f'auto_pad_{ap.lower()}', [('x', F(1, 1, 3, 3)), ('w', C(F(1, 2, 3, 3)))], auto_pad=ap, strides=[2, 2])
        single('ConvTranspose', 11, f'auto_pad_{ap.lower()}_k4', [('x', F(1, 1, 3, 3)), ('w', C(F(1, 1, 4, 4)))], auto_pad=ap, strides=[2, 2])
    single('ConvTranspose', 11, 'auto_pad_valid', [('x', F(1, 1, 3, 3)), ('w', C(F(1, 2, 3, 3)))], auto_pad='VALID', strides=[2, 2])
    single('ConvTranspose', 11, 'weights_input', [('x', F(1, 2, 3, 3)), ('w', F(2, 3, 2, 2)), ('b', F(3))], strides=[2, 2])
    single('ConvTranspose', 11, '1d', [('x', F(1, 2, 5)), ('w', C(F(2, 3, 3))), ('b', C(F(3)))], strides=[2], pads=[1, 0])
    single('ConvTranspose', 11, '1d_output_padding', [('x', F(1, 2, 5)), ('w', C(F(2, 1, 3)))], strides=[2], output_padding=[1])
    single('ConvTranspose', 11, '1d_output_shape', [('x', F(1, 2, 5)), ('w', C(F(2, 1, 3)))], strides=[2], output_shape=[10])

    # BatchNormalization: x [N, C, ...], scale, bias, mean, var of [C].
    def bn(o, tag, shape, runtime=False, **attrs):
        ch = shape[1]
        p = [('s', F(ch)), ('bias', F(ch)), ('mean', F(ch)), ('var', F(ch, pos=True))]
        if not runtime:
            p = [(k, C(v)) for k, v in p]
        single('BatchNormalization', o, tag, [('x', F(*shape))] + p, **attrs)
    bn(7, '', (2, 3, 4, 4), spatial=1)
    bn(7, 'epsilon', (1, 3, 2, 2), epsilon=1e-2)
    bn(9, '', (2, 3, 4, 4))
    bn(9, '2d', (4, 3))
    bn(9, '3d', (2, 3, 5))
    bn(14, '', (2, 3, 4, 4), momentum=0.9)
    bn(15, '', (1, 4, 3, 3), epsilon=1e-3)
    bn(15, 'params_input', (1, 4, 3, 3), runtime=True)
    single('BatchNormalization', 14, 'training_mode',
           [('x', F(2, 3, 4)), ('s', C(F(3))), ('bias', C(F(3))), ('mean', C(F(3))), ('var', C(F(3, pos=True)))],
           outs=['y', 'running_mean', 'running_var'], training_mode=1, refuse='training_mode is not supported')
    # Conv followed by BatchNormalization: folded into the Conv at Load.
    for tag, shape, wshape, bias in [('conv_bias', (1, 2, 5, 5), (3, 2, 3, 3), True), ('conv_no_bias', (1, 2, 5, 5), (3, 2, 3, 3), False),
                                     ('conv1d', (1, 2, 7), (3, 2, 3), True)]:
        c = multi(f'BatchNormalization_13_after_{tag}', 'BatchNormalization', 13)
        ins = [c.value('x', F(*shape)), c.value('w', C(F(*wshape)))]
        if bias:
            ins.append(c.value('b', C(F(wshape[0]))))
        c.node('Conv', ins, ['h'], pads=[1] * (2 * (len(shape) - 2)))
        ps = [c.value(k, C(v)) for k, v in [('s', F(3)), ('bias', F(3)), ('mean', F(3)), ('var', F(3, pos=True))]]
        c.node('BatchNormalization', ['h'] + ps, ['y'], epsilon=1e-3)
        c.output('y')
    c = multi('BatchNormalization_13_after_conv_shared', 'BatchNormalization', 13)  # the conv output is used twice: no folding
    c.node('Conv', [c.value('x', F(1, 2, 4, 4)), c.value('w', C(F(3, 2, 3, 3)))], ['h'], pads=[1, 1, 1, 1])
    ps = [c.value(k, C(v)) for k, v in [('s', F(3)), ('bias', F(3)), ('mean', F(3)), ('var', F(3, pos=True))]]
    c.node('BatchNormalization', ['h'] + ps, ['y'])
    c.node('Relu', ['h'], ['z'])
    c.output('y')
    c.output('z')

    # Conv, Relu and MaxPool: the MaxPool runs with the Conv as one node
    # (fuseConvPools), as one op where the pooling pads equally on both
    # sides, else one after the other; not when the Conv's output is used
    # twice.
    for tag, xs, ws, conv_attrs, pool_attrs in [
            ('stem', (1, 3, 20, 22), (8, 3, 7, 7), dict(strides=[2, 2], pads=[3, 3, 3, 3]),
             dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
            ('pool2', (2, 2, 9, 8), (4, 2, 3, 3), dict(pads=[1, 1, 1, 1]), dict(kernel_shape=[2, 2], strides=[2, 2])),
            ('ceil_mode', (1, 2, 9, 9), (3, 2, 3, 3), dict(pads=[1, 1, 1, 1]), dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)),
            ('pool_same_upper', (1, 2, 8, 7), (3, 2, 3, 3), dict(), dict(kernel_shape=[2, 2], strides=[2, 2], auto_pad='SAME_UPPER'))]:
        c = multi(f'MaxPool_12_after_conv_{tag}', 'MaxPool', 12)
        c.node('Conv', [c.value('x', F(*xs)), c.value('w', C(F(*ws))), c.value('b', C(F(ws[0])))], ['h'], **conv_attrs)
        c.node('Relu', ['h'], ['r'])
        c.node('MaxPool', ['r'], ['y'], **pool_attrs)
        c.output('y')
    c = multi('MaxPool_12_after_conv_shared', 'MaxPool', 12)  # the Conv's output is used twice: not fused
    c.node('Conv', [c.value('x', F(1, 2, 6, 6)), c.value('w', C(F(3, 2, 3, 3)))], ['h'], pads=[1, 1, 1, 1])
    c.node('MaxPool', ['h'], ['y'], kernel_shape=[2, 2], strides=[2, 2])
    c.node('Relu', ['h'], ['z'])
    c.output('y')
    c.output('z')

    # Conv, Relu, Conv (and Add, Relu): the Convs run as one node
    # (fuseConvPairs), one tensor.Conv2DPair, when the second is of stride
    # 1 and padded; a residual that broadcasts runs them one after the
    # other; not when the first Conv's output is used twice.
    for tag, xs, w1, a1, w2, a2, res in [
            ('basic_block', (1, 4, 9, 8), (6, 4, 3, 3), dict(pads=[1, 1, 1, 1]), (4, 6, 3, 3), dict(pads=[1, 1, 1, 1]), (1, 4, 9, 8)),
            ('strided_first', (2, 3, 11, 10), (8, 3, 3, 3), dict(strides=[2, 2], pads=[1, 1, 1, 1]), (5, 8, 3, 3), dict(pads=[1, 1, 1, 1]), None),
            ('5x5_dilated', (1, 2, 12, 12), (4, 2, 3, 3), dict(pads=[1, 1, 1, 1]), (3, 4, 3, 3), dict(pads=[2, 2, 2, 2], dilations=[2, 2]), (1, 3, 12, 12)),
            ('residual_broadcast', (1, 3, 7, 7), (4, 3, 3, 3), dict(pads=[1, 1, 1, 1]), (4, 4, 3, 3), dict(pads=[1, 1, 1, 1]), (1, 4, 1, 1)),
            ('strided_second', (1, 3, 9, 9), (4, 3, 3, 3), dict(pads=[1, 1, 1, 1]), (4, 4, 3, 3), dict(strides=[2, 2], pads=[1, 1, 1, 1]), None)]:
        c = multi(f'Conv_11_pair_{tag}', 'Conv', 11)
        c.node('Conv', [c.value('x', F(*xs)), c.value('w1', C(F(*w1))), c.value('b1', C(F(w1[0])))], ['h'], **a1)
        c.node('Relu', ['h'], ['r'])
        c.node('Conv', ['r', c.value('w2', C(F(*w2))), c.value('b2', C(F(w2[0])))], ['z'], **a2)
        if res:
            c.node('Add', ['z', c.value('res', F(*res))], ['s'])
            c.node('Relu', ['s'], ['y'])
        else:
            c.node('Relu', ['z'], ['y'])
        c.output('y')
    c = multi('Conv_11_pair_shared', 'Conv', 11)  # the first Conv's output is used twice: not paired
    c.node('Conv', [c.value('x', F(1, 2, 6, 6)), c.value('w1', C(F(3, 2, 3, 3)))], ['h'], pads=[1, 1, 1, 1])
    c.node('Conv', ['h', c.value('w2', C(F(3, 3, 3, 3)))], ['y'], pads=[1, 1, 1, 1])
    c.node('Relu', ['h'], ['z'])
    c.output('y')
    c.output('z')

    # Gemm: A [M, K], B [K, N] (transposed when transA / transB), C broadcast to [M, N].
    single('Gemm', 7, '', [('a', F(3, 4)), ('b', C(F(4, 5))), ('c', C(F(5)))])
    single('Gemm', 9, 'alpha_beta', [('a', F(3, 4)), ('b', F(4, 5)), ('c', F(3, 5))], alpha=0.5, beta=2.0)
    single('Gemm', 11, 'no_c', [('a', F(3, 4)), ('b', C(F(4, 5)))])
    single('Gemm', 11, 'transB', [('a', F(3, 4)), ('b', C(F(5, 4))), ('c', C(F(5)))], transB=1)
    single('Gemm', 13, 'transA', [('a', F(4, 3)), ('b', F(4, 5)), ('c', F(1, 5))], transA=1)
    single('Gemm', 13, 'transA_transB', [('a', F(4, 3)), ('b', F(5, 4)), ('c', F(3, 1))], transA=1, transB=1, alpha=-1.5)
    single('Gemm', 13, 'c_scalar', [('a', F(3, 4)), ('b', F(4, 5)), ('c', C(np.float32(0.75)))], beta=0.5)
    single('Gemm', 13, 'c_full', [('a', F(2, 4)), ('b', C(F(5, 4))), ('c', C(F(2, 5)))], transB=1, alpha=2.0, beta=-1.0)

    # MatMul with NumPy semantics.
    for tag, a, b in [('2d', (3, 4), (4, 5)), ('batched', (2, 3, 4), (2, 4, 5)), ('bcast_rhs', (2, 3, 4), (4, 5)),
                      ('bcast_lhs', (3, 4), (2, 4, 5)), ('bcast_4d', (2, 1, 3, 4), (1, 3, 4, 2)),
                      ('vec_mat', (4,), (4, 5)), ('mat_vec', (3, 4), (4,)), ('vec_vec', (4,), (4,)), ('vec_batched', (4,), (2, 4, 3))]:
        for o in ([7, 13] if tag == '2d' else [13]):
            single('MatMul', o, tag, [('a', F(*a)), ('b', F(*b))])
    single('MatMul', 13, 'const_b', [('a', F(2, 3, 4)), ('b', C(F(4, 5)))])

    # Pooling.
    x6 = F(1, 2, 6, 6)
    for o in [7, 8, 10, 11, 12]:
        single('MaxPool', o, 'k2s2', [('x', x6)], kernel_shape=[2, 2], strides=[2, 2])
    single('MaxPool', 12, 'k3_pads', [('x', F(1, 2, 5, 5))], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    single('MaxPool', 12, 'pads_asym', [('x', F(1, 2, 5, 5))], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 1, 2])
    neg = -3 - np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)  # all negative: the padding must not count as 0
    single('MaxPool', 12, 'negative_input_pads', [('x', neg)], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    single('MaxPool', 12, 'rect', [('x', F(1, 1, 5, 7))], kernel_shape=[2, 3], strides=[1, 2])
    for o in [10, 12]:
        single('MaxPool', o, 'ceil_mode', [('x', F(1, 2, 6, 6))], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    single('MaxPool', 12, 'ceil_mode_pads', [('x', F(1, 1, 7, 7))], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)
    single('MaxPool', 12, 'ceil_mode_last_window_in_pad', [('x', F(1, 1, 5, 5))], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1,
           note='ONNX shape inference says 4x4; ONNX Runtime (and PyTorch) drop the window that would start in the end padding: 3x3')
    for ap in ['SAME_UPPER', 'SAME_LOWER', 'VALID']:
        single('MaxPool', 12, f'auto_pad_{ap.lower()}', [('x', F(1, 2, 6, 7))], kernel_shape=[3, 3], strides=[2, 2], auto_pad=ap)
    single('MaxPool', 12, '1d', [('x', F(1, 2, 9))], kernel_shape=[3], strides=[2], pads=[1, 1])
    single('MaxPool', 12, 'dilations', [('x', F(1, 1, 6, 6))], kernel_shape=[2, 2], dilations=[2, 2], refuse='dilations [2 2] are not supported')
    single('MaxPool', 12, 'indices_output', [('x', F(1, 1, 4, 4))], outs=['y', ('idx', 'int64')], kernel_shape=[2, 2],
           refuse='the Indices output of MaxPool is not supported')
    single('MaxPool', 12, 'storage_order', [('x', F(1, 1, 4, 4))], kernel_shape=[2, 2], storage_order=1,
           note='storage_order only changes the Indices output, which this model lacks')

    for o in [7, 10, 11]:
        single('AveragePool', o, 'k2s2', [('x', x6)], kernel_shape=[2, 2], strides=[2, 2])
    single('AveragePool', 11, 'pads_exclude', [('x', F(1, 2, 5, 5))], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    single('AveragePool', 7, 'pads_include', [('x', F(1, 2, 5, 5))], kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1)
    single('AveragePool', 11, 'pads_include', [('x', F(1, 2, 5, 5))], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)
    single('AveragePool', 11, 'pads_asym_include', [('x', F(1, 2, 5, 5))], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 1, 2], count_include_pad=1)
    single('AveragePool', 11, 'pads_asym_exclude', [('x', F(1, 2, 5, 5))], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 1, 2])
    single('AveragePool', 11, 'rect', [('x', F(1, 1, 5, 7))], kernel_shape=[2, 3], strides=[1, 2])
    single('AveragePool', 11, 'ceil_mode_exact', [('x', F(1, 2, 5, 5))], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    single('AveragePool', 10, 'ceil_mode', [('x', F(1, 2, 6, 6))], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    single('AveragePool', 11, 'ceil_mode_include_pad', [('x', F(1, 2, 6, 6))], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
           ceil_mode=1, count_include_pad=1)
    single('AveragePool', 11, 'auto_pad_same_upper', [('x', F(1, 2, 5, 5))], kernel_shape=[3, 3], auto_pad='SAME_UPPER')
    single('AveragePool', 11, 'auto_pad_same_upper_s2', [('x', F(1, 2, 6, 6))], kernel_shape=[3, 3], strides=[2, 2], auto_pad='SAME_UPPER')
    single('AveragePool', 11, 'auto_pad_same_lower_include', [('x', F(1, 2, 6, 6))], kernel_shape=[2, 2], auto_pad='SAME_LOWER', count_include_pad=1)
    single('AveragePool', 11, 'auto_pad_valid', [('x', F(1, 2, 6, 7))], kernel_shape=[3, 3], strides=[2, 2], auto_pad='VALID')
    single('AveragePool', 11, '1d', [('x', F(1, 2, 9))], kernel_shape=[3], strides=[2], pads=[1, 1])
    for op in ['GlobalAveragePool', 'GlobalMaxPool']:
        single(op, 7, '', [('x', F(2, 3, 4, 5))])
        single(op, 13, '1d', [('x', F(2, 3, 7))])

    # Softmax: before 13 the input is flattened at axis (1 by default) into
    # a matrix normalised along its rows; from 13 on one axis (-1).
    for op in ['Softmax', 'LogSoftmax']:
        x = F(2, 3, 4, scale=2)
        single(op, 7, 'default_axis', [('x', x)])
        single(op, 7, 'axis2', [('x', x)], axis=2)
        single(op, 7, 'axis0', [('x', x)], axis=0)
        single(op, 11, 'axis_neg1', [('x', x)], axis=-1)
        single(op, 11, 'axis_neg2', [('x', F(2, 2, 3, 2))], axis=-2)
        single(op, 13, 'default_axis', [('x', x)])
        single(op, 13, 'axis1', [('x', x)], axis=1)
        single(op, 13, 'axis_neg2', [('x', F(2, 2, 3, 2))], axis=-2)
    single('Softmax', 13, 'large', [('x', F(2, 5, scale=30))])

    # LayerNormalization (17).
    single('LayerNormalization', 17, '', [('x', F(2, 3, 8)), ('s', C(F(8))), ('b', C(F(8)))])
    single('LayerNormalization', 17, 'no_bias', [('x', F(2, 5)), ('s', C(F(5)))])
    single('LayerNormalization', 17, 'axis1', [('x', F(2, 3, 4)), ('s', C(F(3, 4))), ('b', C(F(3, 4)))], axis=1)
    single('LayerNormalization', 17, 'axis_neg2_epsilon', [('x', F(2, 3, 4)), ('s', F(3, 4)), ('b', F(3, 4))], axis=-2, epsilon=1e-2)
    single('LayerNormalization', 17, 'mean_output', [('x', F(2, 3, 4)), ('s', C(F(4)))], outs=['y', 'mean'],
           refuse='the Mean and InvStdDev outputs are not supported')

    # Reductions: axes an attribute before 18 (13 for ReduceSum), an input from then.
    x = F(2, 3, 4)
    for op in ['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin']:
        attr_until = 12 if op == 'ReduceSum' else 13
        single(op, 7, 'axes1', [('x', x)], axes=[1])
        single(op, 7, 'axes02_keepdims0', [('x', x)], axes=[0, 2], keepdims=0)
        single(op, 11, 'axes_neg', [('x', x)], axes=[-1])
        single(op, attr_until, 'all', [('x', x)])
        single(op, attr_until, 'all_keepdims0', [('x', x)], keepdims=0, outs=['y'])
        o = 13 if op == 'ReduceSum' else 18
        single(op, o, 'axes_input', [('x', x), ('axes', C(i64(1)))])
        single(op, o, 'axes_input_neg_keepdims0', [('x', x), ('axes', C(i64(-1, 0)))], keepdims=0)
        single(op, o, 'no_axes', [('x', x)])
        single(op, o, 'no_axes_keepdims0', [('x', x)], keepdims=0)
        single(op, o, 'noop_with_empty_axes', [('x', x)], noop_with_empty_axes=1)
        single(op, o, 'empty_axes_input', [('x', x), ('axes', C(np.zeros(0, np.int64)))])
    single('ReduceSum', 13, 'int64', [('x', I(2, 3, 4)), ('axes', C(i64(1)))], outs=[('y', 'int64')])
    single('ReduceMax', 13, 'int64', [('x', I(2, 3, 4))], axes=[-1], keepdims=0, outs=[('y', 'int64')])

    for op in ['ArgMax', 'ArgMin']:
        x = F(3, 4, 5, zeros=False)
        single(op, 7, 'axis1', [('x', x)], axis=1, outs=[('y', 'int64')])
        single(op, 7, 'default', [('x', x)], outs=[('y', 'int64')])
        single(op, 11, 'axis_neg_keepdims0', [('x', x)], axis=-1, keepdims=0, outs=[('y', 'int64')])
        single(op, 13, 'axis0_keepdims0', [('x', x)], axis=0, keepdims=0, outs=[('y', 'int64')])
        single(op, 12, 'select_last_index', [('x', x)], axis=1, select_last_index=1, outs=[('y', 'int64')],
               refuse='select_last_index=1 is not supported')


def resize_ops():
    x = F(1, 2, 3, 4)
    s = lambda *v: C(f32(*v))
    sz = lambda *v: C(i64(*v))
    empty = C(np.zeros(0, np.float32))
    # Upsample: scales an attribute at 7, an input at 9; asymmetric coordinates.
    single('Upsample', 7, 'nearest', [('x', x)], scales=Floats([1, 1, 2, 2]))
    single('Upsample', 7, 'nearest_3x', [('x', x)], scales=Floats([1, 1, 3, 1.5]))
    single('Upsample', 7, 'linear', [('x', x)], scales=Floats([1, 1, 2, 2]), mode='linear')
    single('Upsample', 9, 'nearest', [('x', x), ('s', s(1, 1, 2, 2))])
    single('Upsample', 9, 'nearest_channels', [('x', x), ('s', s(1, 2, 1, 1))])
    single('Upsample', 9, 'linear', [('x', x), ('s', s(1, 1, 2, 2.5))], mode='linear')
    # Resize-10: scales as input 1 (asymmetric coordinates).
    single('Resize', 10, 'nearest_up', [('x', x), ('s', s(1, 1, 2, 2))])
    single('Resize', 10, 'nearest_up_3x', [('x', x), ('s', s(1, 1, 3, 3))])
    single('Resize', 10, 'nearest_down', [('x', F(1, 1, 6, 8)), ('s', s(1, 1, 0.5, 0.75))])
    single('Resize', 10, 'nearest_mixed', [('x', F(1, 2, 4, 6)), ('s', s(1, 1, 2.5, 0.5))])
    single('Resize', 10, 'linear_up', [('x', x), ('s', s(1, 1, 2, 1.5))], mode='linear')
    single('Resize', 10, 'linear_down', [('x', F(1, 1, 6, 8)), ('s', s(1, 1, 0.5, 0.75))], mode='linear')
    # Resize-11 and 13: roi, scales, sizes; coordinate_transformation_mode and nearest_mode.
    coords = ['half_pixel', 'pytorch_half_pixel', 'align_corners', 'asymmetric']
    for o in [11, 13]:
        for cm in coords + ['tf_half_pixel_for_nn']:
            for nm in ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil']:
                if o == 11 and nm in ('round_prefer_ceil', 'ceil') and cm not in ('half_pixel', 'asymmetric'):
                    continue  # keep opset 11 to a subset
                single('Resize', o, f'nearest_{cm}_{nm}_up', [('x', x), ('roi', empty), ('s', s(1, 1, 2, 1.5))],
                       coordinate_transformation_mode=cm, nearest_mode=nm)
            single('Resize', o, f'nearest_{cm}_down', [('x', F(1, 1, 6, 8)), ('roi', empty), ('s', s(1, 1, 0.5, 0.75))],
                   coordinate_transformation_mode=cm)
        for cm in coords:
            single('Resize', o, f'linear_{cm}_up', [('x', x), ('roi', empty), ('s', s(1, 1, 2, 1.5))], mode='linear',
                   coordinate_transformation_mode=cm)
            single('Resize', o, f'linear_{cm}_down', [('x', F(1, 1, 6, 8)), ('roi', empty), ('s', s(1, 1, 0.5, 0.75))], mode='linear',
                   coordinate_transformation_mode=cm)
            single('Resize', o, f'linear_{cm}_sizes', [('x', x), ('roi', empty), ('s', empty), ('sz', sz(1, 2, 5, 7))], mode='linear',
                   coordinate_transformation_mode=cm)
            single('Resize', o, f'nearest_{cm}_sizes', [('x', x), ('roi', empty), ('s', empty), ('sz', sz(1, 2, 7, 3))],
                   coordinate_transformation_mode=cm)
        single('Resize', o, 'linear_sizes_to_1', [('x', x), ('roi', empty), ('s', empty), ('sz', sz(1, 2, 1, 1))], mode='linear',
               coordinate_transformation_mode='pytorch_half_pixel')
        single('Resize', o, 'linear_default_coords', [('x', x), ('roi', empty), ('s', s(1, 1, 2, 2))], mode='linear')
        single('Resize', o, 'nearest_default', [('x', x), ('roi', empty), ('s', s(1, 1, 2, 2))])
    single('Resize', 13, 'nearest_3d', [('x', F(2, 3, 5)), ('', None), ('s', s(1, 1, 2.5))])
    single('Resize', 13, 'nearest_channels_batch', [('x', x), ('', None), ('s', s(2, 0.5, 1, 1))], nearest_mode='floor')
    single('Resize', 13, 'nearest_no_roi_sizes', [('x', x), ('', None), ('', None), ('sz', sz(1, 2, 6, 8))])
    single('Resize', 13, 'linear_scales_input', [('x', x), ('', None), ('s', f32(1, 1, 2, 3))], mode='linear')
    single('Resize', 13, 'linear_sizes_input', [('x', x), ('', None), ('', None), ('sz', i64(1, 2, 5, 5))], mode='linear')
    single('Resize', 13, 'cubic', [('x', x), ('', None), ('s', s(1, 1, 2, 2))], mode='cubic', refuse='mode "cubic" is not supported')
    single('Resize', 13, 'tf_crop_and_resize', [('x', x), ('roi', C(f32(0, 0, 0.1, 0.1, 1, 1, 0.9, 0.9))), ('s', s(1, 1, 2, 2))],
           mode='linear', coordinate_transformation_mode='tf_crop_and_resize',
           refuse='coordinate_transformation_mode "tf_crop_and_resize" is not supported')
    # Resize-18: axes, antialias, keep_aspect_ratio_policy.
    single('Resize', 18, 'linear', [('x', x), ('', None), ('s', s(1, 1, 2, 1.5))], mode='linear')
    single('Resize', 18, 'nearest_axes_sizes', [('x', x), ('', None), ('', None), ('sz', sz(6, 5))], axes=[2, 3])
    single('Resize', 18, 'linear_axes_neg_scales', [('x', x), ('', None), ('s', s(2.5))], axes=[-1], mode='linear',
           coordinate_transformation_mode='align_corners')
    single('Resize', 18, 'antialias', [('x', F(1, 1, 6, 8)), ('', None), ('s', s(1, 1, 0.5, 0.5))], mode='linear', antialias=1,
           refuse='antialias is not supported')
    single('Resize', 18, 'keep_aspect_ratio', [('x', x), ('', None), ('', None), ('sz', sz(5, 5))], axes=[2, 3],
           keep_aspect_ratio_policy='not_larger', refuse='keep_aspect_ratio_policy "not_larger" is not supported')
    single('Resize', 18, 'half_pixel_symmetric', [('x', x), ('', None), ('s', s(1, 1, 2, 1.5))], mode='linear',
           coordinate_transformation_mode='half_pixel_symmetric',
           refuse='coordinate_transformation_mode "half_pixel_symmetric" is not supported')


def shape_ops():
    x = F(2, 3, 4)
    for o in [7, 13]:
        single('Shape', o, '', [('x', x)], outs=[('y', 'int64')])
    for tag, a in [('start1', dict(start=1)), ('start_neg2', dict(start=-2)), ('end_neg1', dict(end=-1)),
                   ('start1_end2', dict(start=1, end=2)), ('clamped', dict(start=-10, end=10)), ('empty', dict(start=2, end=1))]:
        single('Shape', 15, tag, [('x', F(2, 3, 4, 5))], outs=[('y', 'int64')], **a)
    single('Size', 7, '', [('x', x)], outs=[('y', 'int64')])
    single('Size', 13, '', [('x', F(3, 1, 5))], outs=[('y', 'int64')])
    # The exporter's shape arithmetic: Shape, Gather, Unsqueeze, Concat, Reshape.
    for o in [11, 13]:
        c = multi(f'Shape_{o}_reshape_chain', 'Shape', o)
        x_ = c.value('x', F(2, 3, 4))
        c.node('Shape', [x_], ['s'])
        c.node('Gather', ['s', c.value('i0', C(np.int64(0)))], ['d0'], axis=0)
        if o >= 13:
            c.node('Unsqueeze', ['d0', c.value('ax', C(i64(0)))], ['u0'])
        else:
            c.node('Unsqueeze', ['d0'], ['u0'], axes=[0])
        c.node('Concat', ['u0', c.value('rest', C(i64(-1)))], ['shape'], axis=0)
        c.node('Reshape', [x_, 'shape'], ['y'])
        c.output('y')
    c = multi('Shape_13_arith_chain', 'Shape', 13)  # int64 arithmetic on the host, then ConstantOfShape
    x_ = c.value('x', F(2, 3, 4))
    c.node('Shape', [x_], ['s'])
    c.node('Mul', ['s', c.value('two', C(i64(1, 2, 1)))], ['s2'])
    c.node('Sub', ['s2', c.value('one', C(np.int64(1)))], ['s3'])
    c.node('Div', ['s3', c.value('d', C(i64(1, 2, 2)))], ['s4'])
    c.node('ConstantOfShape', ['s4'], ['z'], value=np.array([0.5], np.float32))
    c.node('Shape', ['z'], ['y'])
    c.output('y', 'int64')
    c.output('z')

    for o in [7, 13]:
        single('Reshape', o, 'infer', [('x', x), ('s', C(i64(4, -1)))])
        single('Reshape', o, 'copy_dim', [('x', x), ('s', C(i64(0, -1)))])
    single('Reshape', 13, 'copy_and_infer', [('x', F(2, 3, 4)), ('s', C(i64(0, 2, -1, 2)))])
    single('Reshape', 13, 'flat', [('x', x), ('s', C(i64(-1)))])
    single('Reshape', 13, 'shape_input', [('x', x), ('s', i64(3, 8))])
    single('Reshape', 13, 'int64', [('x', I(2, 3)), ('s', C(i64(3, 2)))], outs=[('y', 'int64')])
    single('Reshape', 13, 'const', [('x', C(F(2, 3))), ('s', C(i64(3, 2)))])
    single('Reshape', 14, 'allowzero', [('x', x), ('s', C(i64(3, 2, 4)))], allowzero=1)
    single('Reshape', 14, 'copy_dim', [('x', x), ('s', C(i64(2, 0, 4)))])

    for o, axes in [(7, [0, 1, 2]), (11, [-1, 0]), (13, [-3])]:
        for a in axes:
            single('Flatten', o, f'axis{a}'.replace('-', 'neg'), [('x', F(2, 3, 4))], axis=a)
    single('Flatten', 13, 'default', [('x', F(2, 3, 2, 2))])
    single('Flatten', 13, 'axis3_of_3', [('x', F(2, 3, 2))], axis=3)

    for o in [7, 13]:
        single('Transpose', o, 'perm021', [('x', F(2, 3, 4))], perm=[0, 2, 1])
        single('Transpose', o, 'default', [('x', F(2, 3, 4))])
    single('Transpose', 13, 'perm4d', [('x', F(2, 3, 4, 5))], perm=[0, 2, 3, 1])
    single('Transpose', 13, 'perm201', [('x', F(2, 3, 4))], perm=[2, 0, 1])
    single('Transpose', 13, 'int64', [('x', I(2, 3))], outs=[('y', 'int64')])
    single('Transpose', 13, 'const', [('x', C(F(2, 3, 4)))], perm=[1, 2, 0])

    single('Squeeze', 7, 'axes', [('x', F(1, 3, 1, 4))], axes=[0, 2])
    single('Squeeze', 7, 'all', [('x', F(1, 3, 1, 4))])
    single('Squeeze', 11, 'axes_neg', [('x', F(1, 3, 1, 4))], axes=[-2])
    single('Squeeze', 13, 'axes_input', [('x', F(1, 3, 1, 4)), ('a', C(i64(-4, 2)))])
    single('Squeeze', 13, 'no_axes', [('x', F(1, 3, 1, 1))])
    single('Squeeze', 13, 'to_scalar', [('x', F(1, 1))])
    single('Squeeze', 13, 'int64_const', [('x', C(I(1, 3))), ('a', C(i64(0)))], outs=[('y', 'int64')])
    single('Unsqueeze', 7, 'axes', [('x', F(3, 4))], axes=[0])
    single('Unsqueeze', 7, 'two_axes', [('x', F(3, 4))], axes=[1, 3])
    single('Unsqueeze', 11, 'axes_neg', [('x', F(3, 4))], axes=[-1, 0])
    single('Unsqueeze', 13, 'axes_input', [('x', F(3, 4)), ('a', C(i64(3, 0)))])
    single('Unsqueeze', 13, 'scalar', [('x', F()), ('a', C(i64(0)))])
    single('Unsqueeze', 13, 'int64_const', [('x', C(np.int64(5))), ('a', C(i64(0)))], outs=[('y', 'int64')])

    single('Concat', 7, 'axis1', [('a', F(2, 3)), ('b', F(2, 1)), ('c', F(2, 2))], axis=1)
    single('Concat', 7, 'axis0', [('a', F(2, 3)), ('b', F(1, 3))], axis=0)
    single('Concat', 11, 'axis_neg1', [('a', F(2, 2, 3)), ('b', F(2, 2, 1))], axis=-1)
    single('Concat', 13, 'axis_neg3', [('a', F(1, 2, 3)), ('b', F(2, 2, 3))], axis=-3)
    single('Concat', 13, 'const_input', [('a', F(2, 3)), ('b', C(F(2, 2)))], axis=1)
    single('Concat', 13, 'int64_const', [('a', C(I(2, 2))), ('b', C(I(2, 3)))], axis=-1, outs=[('y', 'int64')])
    single('Concat', 13, 'int64', [('a', I(2, 2)), ('b', I(1, 2))], axis=0, outs=[('y', 'int64')])
    single('Concat', 13, 'one_input', [('a', F(2, 3))], axis=0)

    single('Split', 7, 'split_attr', [('x', F(2, 5))], outs=['y0', 'y1'], axis=1, split=[2, 3])
    single('Split', 7, 'equal', [('x', F(6, 2))], outs=['y0', 'y1', 'y2'])
    single('Split', 11, 'axis_neg', [('x', F(2, 2, 6))], outs=['y0', 'y1'], axis=-1, split=[4, 2])
    single('Split', 13, 'split_input', [('x', F(2, 5)), ('s', C(i64(1, 4)))], outs=['y0', 'y1'], axis=1)
    single('Split', 13, 'equal', [('x', F(2, 6))], outs=['y0', 'y1', 'y2'], axis=-1)
    single('Split', 13, 'int64', [('x', I(4, 2)), ('s', C(i64(3, 1)))], outs=[('y0', 'int64'), ('y1', 'int64')])
    single('Split', 18, 'num_outputs', [('x', F(2, 6))], outs=['y0', 'y1', 'y2'], axis=1, num_outputs=3)
    single('Split', 18, 'num_outputs_uneven', [('x', F(7, 2))], outs=['y0', 'y1', 'y2'], num_outputs=3)
    single('Split', 18, 'split_input', [('x', F(2, 5)), ('s', C(i64(3, 0, 2)))], outs=['y0', 'y1', 'y2'], axis=1)

    x = F(4, 5, 6)
    single('Slice', 7, 'attrs', [('x', x)], starts=[1, 0], ends=[3, 4], axes=[0, 2])
    single('Slice', 9, 'attrs_no_axes', [('x', x)], starts=[1, 1], ends=[100, -1])
    single('Slice', 9, 'attrs_negative', [('x', x)], starts=[-3], ends=[-1], axes=[1])
    single('Slice', 10, 'steps', [('x', x), ('st', C(i64(0, 1))), ('en', C(i64(6, 5))), ('ax', C(i64(2, 1))), ('sp', C(i64(2, 2)))])
    single('Slice', 10, 'no_axes_steps', [('x', x), ('st', C(i64(1, 1))), ('en', C(i64(3, 4)))])
    single('Slice', 11, 'reverse', [('x', x), ('st', C(i64(-1))), ('en', C(i64(INT64_MIN))), ('ax', C(i64(1))), ('sp', C(i64(-1)))])
    single('Slice', 11, 'reverse_step2', [('x', x), ('st', C(i64(5))), ('en', C(i64(0))), ('ax', C(i64(-1))), ('sp', C(i64(-2)))])
    single('Slice', 13, 'ends_int64_max', [('x', x), ('st', C(i64(1))), ('en', C(i64(INT64_MAX))), ('ax', C(i64(2)))],
           note='what torch.onnx.export writes for x[..., 1:]')
    single('Slice', 13, 'ends_int32_max', [('x', x), ('st', C(i64(1))), ('en', C(i64(2**31 - 1))), ('ax', C(i64(2)))])
    single('Slice', 13, 'axes_neg', [('x', x), ('st', C(i64(1, -4))), ('en', C(i64(3, -1))), ('ax', C(i64(-3, -2)))])
    single('Slice', 13, 'clamped', [('x', x), ('st', C(i64(-100, 2))), ('en', C(i64(100, 1000))), ('ax', C(i64(0, 1)))])
    single('Slice', 13, 'empty', [('x', x), ('st', C(i64(3))), ('en', C(i64(1))), ('ax', C(i64(0)))])
    single('Slice', 13, 'inputs_runtime', [('x', x), ('st', i64(1, 0)), ('en', i64(4, 5)), ('ax', i64(0, 2)), ('sp', i64(2, 3))])
    single('Slice', 13, 'const', [('x', C(x)), ('st', C(i64(3, 0))), ('en', C(i64(0, 6))), ('ax', C(i64(0, 2))), ('sp', C(i64(-1, 2)))])
    single('Slice', 13, 'int64', [('x', I(5, 3)), ('st', C(i64(1))), ('en', C(i64(4))), ('ax', C(i64(0)))], outs=[('y', 'int64')])

    x = F(4, 5, 3)
    single('Gather', 7, 'axis0', [('x', x), ('i', I(3, lo=0, hi=4))])
    single('Gather', 7, 'axis1_2d_indices', [('x', x), ('i', I(2, 3, lo=0, hi=5))], axis=1)
    single('Gather', 11, 'negative_indices', [('x', x), ('i', i64(-1, 0, -4, 2))])
    single('Gather', 11, 'axis_neg', [('x', x), ('i', I(2, lo=-3, hi=3))], axis=-1)
    single('Gather', 13, 'scalar_index', [('x', x), ('i', C(np.int64(-2)))], axis=1)
    single('Gather', 13, 'const_indices', [('x', x), ('i', C(i64(-1, 1, 1)))], axis=0)
    single('Gather', 13, 'const', [('x', C(x)), ('i', C(i64(2, -1)))], axis=2)
    single('Gather', 13, 'int64', [('x', I(4, 3)), ('i', I(2, 2, lo=-4, hi=4))], outs=[('y', 'int64')])
    single('Gather', 13, 'embedding', [('x', C(F(10, 4))), ('i', I(2, 5, lo=0, hi=10))])

    for o in [8, 13]:
        single('Expand', o, 'bcast', [('x', F(3, 1)), ('s', C(i64(2, 3, 4)))])
    single('Expand', 13, 'smaller_shape', [('x', F(3, 1)), ('s', C(i64(4)))])
    single('Expand', 13, 'ones', [('x', F(2, 3)), ('s', C(i64(1, 1)))])
    single('Expand', 13, 'shape_input', [('x', F(1, 3)), ('s', i64(2, 1, 3))])
    single('Expand', 13, 'int64_const', [('x', C(I(1, 3))), ('s', C(i64(2, 3)))], outs=[('y', 'int64')])
    for o in [7, 13]:
        single('Tile', o, '', [('x', F(2, 3)), ('r', C(i64(2, 3)))])
    single('Tile', 13, '3d', [('x', F(2, 1, 3)), ('r', C(i64(1, 4, 2)))])
    single('Tile', 13, 'repeats_input', [('x', F(2, 3)), ('r', i64(3, 1))])
    single('Tile', 13, 'int64', [('x', I(2, 2)), ('r', C(i64(2, 2)))], outs=[('y', 'int64')])

    for o, tag, attrs, dt in [(7, 'tensor', dict(value=F(2, 3)), 'float32'), (9, 'int64', dict(value=i64(1, 2, 3)), 'int64'),
                              (12, 'value_float', dict(value_float=2.5), 'float32'), (12, 'value_floats', dict(value_floats=[1.5, -2.0, 0.25]), 'float32'),
                              (12, 'value_int', dict(value_int=-7), 'int64'), (13, 'value_ints', dict(value_ints=[4, 0, -3]), 'int64')]:
        c = multi(f'Constant_{o}_{tag}', 'Constant', o)
        if isinstance(attrs.get('value'), Rand):
            attrs['value'] = attrs['value'].draw(c.rng)
        c.node('Constant', [], ['k'], name='node_Constant', **attrs)
        shape = np.asarray(attrs.get('value', attrs.get('value_floats', attrs.get('value_ints', 0)))).shape
        c.node('Add', [c.value('x', F(*shape) if dt == 'float32' else I(*shape)), 'k'], ['y'])
        c.output('y', dt)
    c = multi('Constant_13_output', 'Constant', 13)  # a constant as the graph output
    c.node('Constant', [], ['y'], name='node_Constant', value=np.arange(6, dtype=np.float32).reshape(2, 3) - 2)
    c.output('y')

    for tag, value, dt in [('default', None, 'float32'), ('int64', np.array([7], np.int64), 'int64'),
                           ('float', np.array([1.5], np.float32), 'float32'), ('bool', np.array([True]), 'bool')]:
        c = multi(f'ConstantOfShape_9_{tag}', 'ConstantOfShape', 9)
        c.node('Shape', [c.value('x', F(2, 3))], ['s'])
        attrs = {} if value is None else dict(value=value)
        c.node('ConstantOfShape', ['s'], ['y'], name='node_ConstantOfShape', **attrs)
        c.output('y', dt)
    single('ConstantOfShape', 13, 'const_shape', [('s', C(i64(3, 1, 2)))], value=np.array([-2.0], np.float32))
    single('ConstantOfShape', 13, 'shape_input', [('s', i64(2, 2))], value=np.array([3], np.int64), outs=[('y', 'int64')])

    single('Range', 11, 'float_const', [('a', C(np.float32(0.5))), ('b', C(np.float32(3.2))), ('d', C(np.float32(0.5)))])
    single('Range', 11, 'int64_const', [('a', C(np.int64(-3))), ('b', C(np.int64(7))), ('d', C(np.int64(3)))], outs=[('y', 'int64')])
    single('Range', 11, 'negative_delta', [('a', C(np.int64(5))), ('b', C(np.int64(-2))), ('d', C(np.int64(-2)))], outs=[('y', 'int64')])
    single('Range', 11, 'empty', [('a', C(np.int64(5))), ('b', C(np.int64(2))), ('d', C(np.int64(1)))], outs=[('y', 'int64')])
    single('Range', 13, 'float_input', [('a', np.float32(-1.0)), ('b', np.float32(2.0)), ('d', np.float32(0.75))])
    single('Range', 13, 'int64_input', [('a', np.int64(2)), ('b', np.int64(11)), ('d', np.int64(2))], outs=[('y', 'int64')])

    # Pad: attributes before 11, inputs from 11 (axes from 18).
    x = F(2, 3, 4)
    single('Pad', 7, 'constant', [('x', x)], pads=[0, 1, 2, 1, 0, 1], value=1.5)
    single('Pad', 7, 'default', [('x', x)], pads=[1, 0, 0, 0, 1, 1])
    single('Pad', 10, 'reflect', [('x', x)], pads=[0, 1, 2, 0, 1, 1], mode='reflect')
    single('Pad', 10, 'edge', [('x', x)], pads=[0, 2, 1, 0, 1, 3], mode='edge')
    single('Pad', 7, 'negative', [('x', x)], pads=[0, -1, 1, 0, 0, -2])
    single('Pad', 11, 'constant', [('x', x), ('p', C(i64(0, 1, 2, 1, 0, 1))), ('v', C(np.float32(-0.5)))])
    single('Pad', 11, 'no_value', [('x', x), ('p', C(i64(1, 1, 1, 1, 1, 1)))])
    single('Pad', 11, 'reflect', [('x', x), ('p', C(i64(0, 2, 3, 0, 1, 3)))], mode='reflect')
    single('Pad', 11, 'edge', [('x', x), ('p', C(i64(1, 0, 2, 0, 2, 1)))], mode='edge')
    single('Pad', 11, 'negative', [('x', x), ('p', C(i64(0, -1, -1, 0, 1, -1)))])
    single('Pad', 11, 'pads_input', [('x', x), ('p', i64(0, 0, 1, 0, 0, 2)), ('v', np.float32(9.0))])
    single('Pad', 13, 'reflect_4d', [('x', F(1, 2, 4, 4)), ('p', C(i64(0, 0, 1, 2, 0, 0, 2, 1)))], mode='reflect')
    single('Pad', 13, 'int64', [('x', I(2, 3)), ('p', C(i64(1, 0, 0, 2))), ('v', C(np.int64(7)))], outs=[('y', 'int64')])
    single('Pad', 18, 'axes', [('x', x), ('p', C(i64(1, 2, 0, 1))), ('', None), ('ax', C(i64(0, -1)))])
    single('Pad', 18, 'axes_edge', [('x', x), ('p', C(i64(2, 1))), ('', None), ('ax', C(i64(1)))], mode='edge')

    for tag, ins, attrs in [('upper', [('x', F(4, 4))], {}), ('lower', [('x', F(4, 4))], dict(upper=0)),
                            ('upper_k1', [('x', F(3, 5)), ('k', C(np.int64(1)))], {}),
                            ('lower_k_neg1', [('x', F(5, 3)), ('k', C(np.int64(-1)))], dict(upper=0)),
                            ('upper_k_neg2_batched', [('x', F(2, 4, 4)), ('k', C(np.int64(-2)))], {}),
                            ('lower_k2_batched', [('x', F(2, 3, 4)), ('k', C(np.int64(2)))], dict(upper=0)),
                            ('k_input', [('x', F(4, 4)), ('k', np.int64(1))], {}),
                            ('upper_k_large', [('x', F(3, 3)), ('k', C(np.int64(5)))], {})]:
        single('Trilu', 14, tag, ins, **attrs)


def more_types_and_opsets():
    # Element types beyond float32 / int64 / bool, as graph inputs and initializers.
    single('Cast', 13, 'int32_float', [('x', np.arange(-6, 6, dtype=np.int32).reshape(3, 4))], to=1)
    single('Cast', 13, 'uint8_float', [('x', np.arange(0, 250, 21, dtype=np.uint8))], to=1)
    single('Cast', 13, 'float16_const_float', [('x', C((np.arange(12, dtype=np.float32) / 7 - 0.8).astype(np.float16)))], to=1)
    single('Cast', 13, 'double_const_float', [('x', C(np.linspace(-2, 2, 9)))], to=1)
    c = multi('Add_13_double_initializer', 'Add', 13)
    c.node('Cast', [c.value('w', C(np.linspace(-1, 1, 6).reshape(2, 3)))], ['wf'], to=1)
    c.node('Add', [c.value('x', F(2, 3)), 'wf'], ['y'])
    c.output('y')
    single('Dropout', 13, 'training_mode_false', [('x', F(2, 3)), ('r', C(np.float32(0.5))), ('t', C(np.array(False)))])
    single('Concat', 13, 'empty_input', [('a', F(2, 0)), ('b', F(2, 3))], axis=1)
    single('Add', 13, 'empty', [('a', F(0, 3)), ('b', F(3))])
    # Forms found in real models, and edges.
    single('Gather', 13, 'scalar_index_input', [('x', F(4, 3)), ('i', np.int64(-1))])
    single('Squeeze', 13, 'axes_runtime', [('x', F(1, 3, 1)), ('a', i64(2))])
    single('ReduceMean', 18, 'axes_runtime', [('x', F(2, 3, 4)), ('a', i64(-1))])
    single('ReduceSum', 13, 'axes_runtime_keepdims0', [('x', F(2, 3, 4)), ('a', i64(0, 2))], keepdims=0)
    for op in ['ArgMax', 'ArgMin']:
        single(op, 13, 'ties', [('x', F(4, 6, grid=True))], axis=1, outs=[('y', 'int64')], note='the first of equal values wins')
        single(op, 13, 'ties_axis0', [('x', F(6, 4, grid=True))], axis=0, keepdims=0, outs=[('y', 'int64')])
    single('Tile', 13, 'zero_repeat', [('x', F(2, 3)), ('r', C(i64(0, 2)))])
    single('Range', 11, 'float_fraction_const', [('a', C(np.float32(-1.3))), ('b', C(np.float32(2.9))), ('d', C(np.float32(0.1)))])
    single('Range', 13, 'float_fraction_input', [('a', np.float32(0.2)), ('b', np.float32(-3.1)), ('d', np.float32(-0.3))])
    single('MatMul', 13, 'int64', [('a', I(2, 3)), ('b', I(3, 2))], outs=[('y', 'int64')])
    single('LayerNormalization', 17, 'axis0', [('x', F(2, 3)), ('s', C(F(2, 3))), ('b', C(F(2, 3)))], axis=0)
    single('Slice', 13, 'steps_no_axes', [('x', F(4, 5)), ('st', C(i64(3, 0))), ('en', C(i64(0, 5))), ('', None), ('sp', C(i64(-1, 2)))])
    single('GlobalAveragePool', 13, '3d', [('x', F(1, 2, 3, 2, 4))])
    single('GlobalMaxPool', 13, '3d', [('x', F(1, 2, 3, 2, 4))])
    c = multi('Constant_13_float16', 'Constant', 13)
    c.node('Constant', [], ['k'], name='node_Constant', value=(np.arange(6, dtype=np.float32) / 3 - 1).astype(np.float16))
    c.node('Cast', ['k'], ['kf'], to=1)
    c.node('Mul', [c.value('x', F(6)), 'kf'], ['y'])
    c.output('y')
    # Special values: infinities and NaN, as ONNX Runtime gives them.
    sp = np.array([[-np.inf, -2.0, -0.5, -0.0], [0.0, 0.5, 3.0, np.inf]], np.float32)
    for op in ['Relu', 'Sigmoid', 'Tanh', 'Exp', 'Abs', 'Neg', 'Sign', 'Erf']:
        single(op, 13, 'inf', [('x', sp)])
    for op in ['Log', 'Sqrt', 'Reciprocal']:
        single(op, 13, 'zero_negative', [('x', sp)], note='NaN and infinities')
    single('Exp', 13, 'overflow', [('x', f32(-200, -90, 0, 88, 89, 200))])
    single('Div', 13, 'by_zero', [('a', f32(1, -1, 0, 2)), ('b', f32(0, 0, 0, -0.0))])
    single('Pow', 13, 'negative_base_fraction', [('a', f32(-2, -1, 0, 1, 2)), ('b', C(np.float32(0.5)))])
    single('Softmax', 13, 'neg_inf', [('x', np.array([[-np.inf, 0, 1, -np.inf], [2, -np.inf, 2, 0]], np.float32))],
           note='-inf logits, as causal masks give')
    single('HardSwish', 14, 'inf', [('x', sp)])
    single('Clip', 13, 'inf', [('x', sp), ('lo', C(np.float32(-1))), ('hi', C(np.float32(1)))])
    single('Cast', 13, 'inf_float16', [('x', f32(70000, -70000, 65504, 1e-8))], outs=[('y', 'float16')], to=10)

    # The newest opset for the ops real models use most.
    x = F(2, 3, 4)
    single('Relu', 18, '', [('x', x)])
    single('Add', 18, 'bcast', [('a', x), ('b', F(4))])
    single('Mul', 18, 'bcast', [('a', x), ('b', F(3, 1))])
    single('Conv', 18, 'pads_strides', [('x', F(1, 2, 6, 6)), ('w', C(F(3, 2, 3, 3))), ('b', C(F(3)))], pads=[1, 1, 1, 1], strides=[2, 2])
    single('MatMul', 18, 'batched', [('a', F(2, 3, 4)), ('b', F(4, 2))])
    single('Gemm', 18, 'transB', [('a', F(2, 4)), ('b', C(F(3, 4))), ('c', C(F(3)))], transB=1)
    single('Softmax', 18, 'axis1', [('x', x)], axis=1)
    single('Transpose', 18, '', [('x', x)], perm=[1, 0, 2])
    single('Reshape', 18, '', [('x', x), ('s', C(i64(0, -1)))])
    single('Gather', 18, '', [('x', x), ('i', I(2, lo=-3, hi=3))], axis=1)
    single('Concat', 18, '', [('a', x), ('b', F(2, 1, 4))], axis=-2)
    single('Slice', 18, '', [('x', x), ('st', C(i64(1))), ('en', C(i64(-1))), ('ax', C(i64(-1)))])
    single('Cast', 18, 'float_int64', [('x', F(2, 3, scale=3))], outs=[('y', 'int64')], to=7)
    single('Where', 18, '', [('c', B(3, 4)), ('a', F(3, 4)), ('b', F(4))])
    single('Expand', 18, '', [('x', F(3, 1)), ('s', C(i64(3, 2)))])
    single('Pad', 18, 'reflect', [('x', x), ('p', C(i64(0, 1, 1, 0, 1, 2)))], mode='reflect')
    single('Split', 18, 'axis_neg', [('x', F(2, 6)), ('s', C(i64(2, 4)))], outs=['y0', 'y1'], axis=-1)
    single('Squeeze', 18, '', [('x', F(1, 3, 1)), ('a', C(i64(0)))])
    single('Unsqueeze', 18, '', [('x', F(3)), ('a', C(i64(-1)))])
    single('Identity', 18, '', [('x', F(3))])
    single('Equal', 18, '', [('a', F(3, 4, grid=True)), ('b', F(4, grid=True))], outs=[('y', 'bool')])
    single('BatchNormalization', 18, '', [('x', F(1, 3, 2, 2)), ('s', C(F(3))), ('bias', C(F(3))), ('mean', C(F(3))), ('var', C(F(3, pos=True)))])
    single('LayerNormalization', 18, '', [('x', x), ('s', C(F(4))), ('b', C(F(4)))])
    single('Flatten', 18, '', [('x', x)], axis=2)
    single('Sigmoid', 18, '', [('x', x)])
    single('Tanh', 18, '', [('x', x)])
    single('Erf', 18, '', [('x', x)])
    single('Div', 18, '', [('a', x), ('b', F(4, nonzero=True))])
    single('Sub', 18, '', [('a', x), ('b', F(4))])
    single('Pow', 18, '', [('a', x), ('b', C(np.float32(2)))])
    single('Sqrt', 18, '', [('x', F(2, 3, pos=True))])


def build_all():
    elementwise()
    nn_ops()
    resize_ops()
    shape_ops()
    more_types_and_opsets()


def supported_ops():
    """The operators the importer registers, read from onnx/ops_*.go."""
    ops = set()
    for f in sorted(os.listdir(ONNX_GO)):
        if not (f.startswith('ops_') and f.endswith('.go')):
            continue
        src = open(os.path.join(ONNX_GO, f)).read()
        ops |= set(re.findall(r'register\("([A-Za-z]+)"', src))
        ops |= set(re.findall(r'^\s*"([A-Z][A-Za-z]+)":\s*[{(]', src, re.M))
        ops |= set(re.findall(r'"([A-Z][A-Za-z]+)":\s*\(\*tensor\.Tensor\)', src))
        for lst in re.findall(r'range \[\]string\{([^}]*)\}', src):
            ops |= set(re.findall(r'"([A-Za-z]+)"', lst))
    return ops


def main():
    build_all()
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith('.onnx') or f.endswith('.npy') or f == 'cases.json':
            os.remove(os.path.join(OUT, f))
    manifest = []
    for c in CASES:
        model = f'{c.name}.onnx'
        with open(os.path.join(OUT, model), 'wb') as fh:
            fh.write(c.model_bytes())
        ins = {}
        for k, v in c.inputs.items():
            ins[k] = f'{c.name}.in.{k}.npy'
            np.save(os.path.join(OUT, ins[k]), v)
        e = {'name': c.name, 'op': c.op, 'opset': c.opset, 'model': model, 'inputs': ins,
             'outputs': {k: f'{c.name}.ort.{k}.npy' for k, _ in c.outputs if c.refuse is None},
             'output_types': {k: dt for k, dt in c.outputs}, 'tol': c.tol}
        if c.refuse is not None:
            e['refuse'] = c.refuse
            e['refuse_at'] = c.refuse_at
        if c.note:
            e['note'] = c.note
        manifest.append(e)
    doc = {
        'about': 'Per-operator conformance cases against ONNX Runtime: see README.md here. '
                 'Written by onnx/testdata/gen_op_cases.py; the .ort. files by onnx/testdata/op_cases_ort.js.',
        'tolerances': TOLERANCES,
        'cases': manifest,
    }
    with open(os.path.join(OUT, 'cases.json'), 'w') as fh:
        json.dump(doc, fh, indent=1)
        fh.write('\n')
    ops = {c.op for c in CASES} | {n[0] for c in CASES for n in c.nodes}
    missing = sorted(supported_ops() - ops - {'Gelu'})
    per = {}
    for c in CASES:
        per.setdefault(c.op, set()).add(c.opset)
    print(f'{len(CASES)} cases of {len(per)} operators in {OUT}')
    if missing:
        print('operators the importer registers that no case covers: ' + ', '.join(missing), file=sys.stderr)
        sys.exit(1)


# Tolerance classes: the largest difference from ONNX Runtime allowed,
# relative to the largest magnitude of the output. Integer and bool outputs
# are compared exactly whatever the class.
TOLERANCES = {
    'default': {'cpu': 1e-5, 'gpu': 1e-4, 'reason': 'float32 rounding of a few operations'},
}

if __name__ == '__main__':
    main()
