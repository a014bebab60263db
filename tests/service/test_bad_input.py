"""Bad input gets a clear 4xx, never a 500, and never changes a session.

Each case is one request against a session that has already taken a step; after it, the
session view, its x (exact bytes) and its metrics must be exactly what they were.
"""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pytest
from service_support import FRAME, apply_zo, bits, create, objective, reference, snapshot, tell, x0_for, zo_values

from zoadamm import wire

DIM, Q = 4, 2
JSON_TYPE = {"Content-Type": "application/json"}
STORES = ["memory", "redis"]


def raw(text: str | bytes) -> dict:
    """A JSON body exactly as written (NaN, Infinity and 1e400 are not JSON, but parsers meet them)."""
    return {"content": text.encode() if isinstance(text, str) else text, "headers": JSON_TYPE}


def body(value) -> dict:
    return raw(json.dumps(value))


def frame(fields: dict, vectors: dict | None = None) -> dict:
    vectors = {k: np.asarray(v, dtype=np.float32) for k, v in (vectors or {}).items()}
    return {"content": wire.encode(fields, vectors), "headers": {"Content-Type": FRAME}}


def frame_bytes(header: bytes, payload: bytes = b"", length: int | None = None) -> dict:
    """A frame built by hand, to put what ``wire.encode`` refuses into it."""
    header += b" " * (-(8 + len(header)) % 4)
    prefix = struct.pack("<4sI", wire.MAGIC, len(header) if length is None else length)
    return {"content": prefix + header + payload, "headers": {"Content-Type": FRAME}}


NAN = np.float32("nan")
INF = np.float32("inf")
TELL, ASK, METRICS, CREATE = "tell", "ask", "metrics", "create"

# (case id, session kind, route, request) -> expected status
CASES = [
    # --- JSON that is not finite ------------------------------------------------------------
    ("f_plus NaN", "zo", TELL, raw('{"step": 1, "f_x": 1.0, "f_plus": [NaN, 1.0]}'), 422),
    ("f_x Infinity", "zo", TELL, raw('{"step": 1, "f_x": Infinity, "f_plus": [1.0, 1.0]}'), 422),
    ("f_plus 1e400", "zo", TELL, raw('{"step": 1, "f_x": 1.0, "f_plus": [1e400, 1.0]}'), 422),
    ("f_plus -Infinity", "zo", TELL, raw('{"step": 1, "f_x": 1.0, "f_plus": [-Infinity, 1.0]}'), 422),
    ("f_x list with NaN", "zo", TELL, raw('{"step": 1, "f_x": [1.0, NaN], "f_plus": [1.0, 1.0]}'), 422),
    ("f_x a huge integer", "zo", TELL, raw('{"step": 1, "f_x": 1' + "0" * 400 + ', "f_plus": [1.0, 1.0]}'), 422),
    ("gradient NaN", "fo", TELL, raw('{"step": 1, "gradient": [NaN, 0, 0, 0]}'), 422),
    ("gradient 1e400", "fo", TELL, raw('{"step": 1, "gradient": [1e400, 0, 0, 0]}'), 422),
    ("gradient beyond float32", "fo", TELL, body({"step": 1, "gradient": [1e39, 0, 0, 0]}), 422),
    ("gradient a huge integer", "fo", TELL, raw('{"step": 1, "gradient": [1' + "0" * 400 + ", 0, 0, 0]}"), 422),
    ("gradient with null", "fo", TELL, body({"step": 1, "gradient": [1.0, None, 0, 0]}), 422),
    ("ask x Infinity", "zo", ASK, raw('{"x": [Infinity, 0, 0, 0]}'), 422),
    ("metric NaN", "zo", METRICS, raw('{"value": NaN}'), 422),
    ("named metric 1e400", "zo", METRICS, raw('{"value": 1.0, "metrics": {"acc": 1e400}}'), 422),
    ("create lr NaN", "new", CREATE, raw('{"dim": 3, "lr": NaN}'), 422),
    ("create x0 Infinity", "new", CREATE, raw('{"dim": 2, "x0": [Infinity, 0]}'), 422),
    # --- not finite inside a binary frame ----------------------------------------------------
    ("frame gradient NaN", "fo", TELL, frame({"step": 1}, {"gradient": [NAN, 0, 0, 0]}), 422),
    ("frame gradient inf", "fo", TELL, frame({"step": 1}, {"gradient": [0, -INF, 0, 0]}), 422),
    ("frame ask x NaN", "zo", ASK, frame({}, {"x": [0, 0, NAN, 0]}), 422),
    ("frame x0 inf", "new", CREATE, frame({"dim": 2}, {"x0": [INF, 0]}), 422),
    ("frame header NaN", "zo", TELL, frame_bytes(b'{"step":1,"f_x":NaN,"f_plus":[1,2],"vectors":[]}'), 422),
    ("frame header 1e400", "zo", TELL, frame_bytes(b'{"step":1,"f_x":1,"f_plus":[1e400,2],"vectors":[]}'), 422),
    # --- malformed frames and bodies ---------------------------------------------------------
    ("frame too short", "zo", TELL, frame_bytes(b"")["content"][:3], 400),
    ("frame bad magic", "zo", TELL, {"content": b"NOPE" + bytes(12), "headers": {"Content-Type": FRAME}}, 400),
    ("frame header overruns", "zo", TELL, frame_bytes(b'{"step":1}', length=4096), 400),
    ("frame header not JSON", "zo", TELL, frame_bytes(b"{not json"), 400),
    ("frame header a list", "zo", TELL, frame_bytes(b"[1, 2]"), 400),
    ("frame header names a field twice", "zo", TELL,
     frame_bytes(b'{"step":7,"step":1,"f_x":1,"f_plus":[1,2],"vectors":[]}'), 400),
    ("frame header invalid utf-8", "zo", TELL, frame_bytes(b'{"step": "\xff\xfe"}'), 400),
    ("frame vectors malformed", "fo", TELL, frame_bytes(b'{"step":1,"vectors":[["gradient",-4]]}'), 400),
    ("frame payload short", "fo", TELL, frame_bytes(b'{"step":1,"vectors":[["gradient",4]]}', bytes(12)), 400),
    ("frame payload long", "fo", TELL, frame_bytes(b'{"step":1,"vectors":[["gradient",4]]}', bytes(20)), 400),
    ("frame truncated", "fo", TELL, {"content": frame({"step": 1}, {"gradient": [1, 2, 3, 4]})["content"][:-3],
                                    "headers": {"Content-Type": FRAME}}, 400),
    ("frame garbage", "zo", TELL, {"content": bytes(range(256)) * 4, "headers": {"Content-Type": FRAME}}, 400),
    ("frame deep header", "zo", TELL, frame_bytes(b"[" * 50000 + b"]" * 50000), 400),
    ("frame vector twice", "fo", TELL,
     frame_bytes(b'{"step":1,"vectors":[["gradient",4],["gradient",4]]}', bytes(32)), 400),
    ("frame unknown vector", "zo", TELL, frame({"step": 1, "f_x": 1.0, "f_plus": [1.0, 2.0]}, {"junk": [1.0]}), 422),
    ("frame x in its header", "zo", ASK, frame({"x": [1.0, 2.0]}), 422),
    ("JSON broken", "zo", TELL, raw('{"step": 1, "f_x": '), 400),
    ("JSON not an object", "zo", TELL, raw("[1, 2]"), 400),
    ("JSON not UTF-8", "zo", TELL, raw(b'{"step": "\xff"}'), 400),
    # a field named twice: which one was meant is not the service's to guess (Python keeps the last)
    ("JSON names a field twice", "zo", TELL, raw('{"step": 7, "step": 1, "f_x": 1.0, "f_plus": [1.0, 2.0]}'), 400),
    ("JSON names a bound twice", "new", CREATE,
     raw('{"dim": 2, "constraint": {"box": {"lower": 0, "lower": 1, "upper": 2}}}'), 400),
    ("JSON in UTF-16", "zo", TELL, raw('{"step": 1, "f_x": 1.0, "f_plus": [1.0, 2.0]}'.encode("utf-16")), 400),
    ("JSON labelled latin-1", "zo", TELL, {"content": b'{"step": 1, "f_x": 1.0, "f_plus": [1.0, 2.0]}',
                                           "headers": {"Content-Type": "application/json; charset=iso-8859-1"}}, 415),
    ("JSON nested deep", "zo", TELL, raw("[" * 50000 + "]" * 50000), 400),
    ("JSON integer too long", "zo", TELL, raw('{"step": ' + "1" * 5000 + "}"), 400),
    ("text/plain", "zo", TELL, {"content": b'{"step": 1}', "headers": {"Content-Type": "text/plain"}}, 415),
    ("form data", "zo", METRICS, {"data": {"value": "1"}}, 415),
    ("xml", "new", CREATE, {"content": b"<dim>3</dim>", "headers": {"Content-Type": "application/xml"}}, 415),
    # a session's name is one line, trimmed: it is printed in logs, tables and the dashboard
    ("a name with a newline", "new", CREATE, body({"dim": 2, "name": "run\n2"}), 422),
    ("a name with NUL", "new", CREATE, body({"dim": 2, "name": "run\u0000"}), 422),
    ("a name with a line separator", "new", CREATE, body({"dim": 2, "name": "run\u2028"}), 422),
    ("a name with a space at the end", "new", CREATE, body({"dim": 2, "name": "run "}), 422),
    ("a name with a bidi override", "new", CREATE, body({"dim": 2, "name": "run\u202e7"}), 422),
    ("a name with a bidi isolate", "new", CREATE, body({"dim": 2, "name": "\u2066run\u2069"}), 422),
    ("a name with a zero-width space", "new", CREATE, body({"dim": 2, "name": "ru\u200bn"}), 422),
    ("a name with a byte-order mark", "new", CREATE, body({"dim": 2, "name": "\ufeffrun"}), 422),
    # nothing is decompressed: a compressed body, or one only labelled so, is refused alike
    ("gzip", "zo", TELL, {"content": gzip.compress(b'{"step": 1, "f_x": 1.0, "f_plus": [1.0, 1.0]}'),
                          "headers": {**JSON_TYPE, "Content-Encoding": "gzip"}}, 415),
    ("gzip behind identity", "zo", TELL, {"content": b'{"step": 1, "f_x": 1.0, "f_plus": [1.0, 1.0]}', "headers": [
        ("Content-Type", "application/json"), ("Content-Encoding", "identity"), ("Content-Encoding", "gzip")]}, 415),
    ("gzip behind identity, create", "new", CREATE, {"content": b'{"dim": 2}', "headers": [
        ("Content-Type", "application/json"), ("Content-Encoding", "identity"), ("Content-Encoding", "gzip")]}, 415),
    ("labelled gzip", "new", CREATE, {"content": b'{"dim": 2}', "headers": {**JSON_TYPE, "Content-Encoding": "gzip"}},
     415),
    # --- wrong shapes and kinds --------------------------------------------------------------
    ("f_plus too many", "zo", TELL, body({"step": 1, "f_x": 1.0, "f_plus": [1.0, 2.0, 3.0]}), 422),
    ("f_plus too few", "zo", TELL, body({"step": 1, "f_x": 1.0, "f_plus": [1.0]}), 422),
    ("f_x wrong length", "zo", TELL, body({"step": 1, "f_x": [1.0, 2.0, 3.0], "f_plus": [1.0, 2.0]}), 422),
    ("f_x missing", "zo", TELL, body({"step": 1, "f_plus": [1.0, 2.0]}), 422),
    ("f_minus on forward", "zo", TELL, body({"step": 1, "f_x": 1.0, "f_plus": [1.0, 2.0], "f_minus": [0.0, 0.0]}), 422),
    ("f_plus not numbers", "zo", TELL, body({"step": 1, "f_x": 1.0, "f_plus": ["a", "b"]}), 422),
    ("no values", "zo", TELL, body({"step": 1}), 422),
    ("no step", "zo", TELL, body({"f_x": 1.0, "f_plus": [1.0, 2.0]}), 422),
    ("negative step", "zo", TELL, body({"step": -1, "f_x": 1.0, "f_plus": [1.0, 2.0]}), 422),
    ("unknown field", "zo", TELL, body({"step": 1, "f_x": 1.0, "f_plus": [1.0, 2.0], "learning_rate": 5}), 422),
    ("gradient on zo-adamm", "zo", TELL, body({"step": 1, "gradient": [1.0] * DIM}), 422),
    ("gradient and values", "fo", TELL, body({"step": 1, "gradient": [1.0] * DIM, "f_plus": [1.0]}), 422),
    ("values on adamm", "fo", TELL, body({"step": 1, "f_x": 1.0, "f_plus": [1.0]}), 422),
    # a gradient tell is the whole step: a part's fields are refused, not dropped
    ("gradient with indices", "fo", TELL, body({"step": 1, "gradient": [1.0] * DIM, "indices": [0]}), 422),
    ("gradient with f_x", "fo", TELL, body({"step": 1, "gradient": [1.0] * DIM, "f_x": 1.0}), 422),
    ("gradient with a worker", "fo", TELL, body({"step": 1, "gradient": [1.0] * DIM, "worker": "w"}), 422),
    ("frame gradient with indices", "fo", TELL, frame({"step": 1, "indices": [0]}, {"gradient": [1.0] * DIM}), 422),
    ("gradient wrong dim", "fo", TELL, body({"step": 1, "gradient": [1.0] * (DIM + 1)}), 422),
    ("frame gradient wrong dim", "fo", TELL, frame({"step": 1}, {"gradient": [1.0] * (DIM - 1)}), 422),
    ("gradient nested", "fo", TELL, body({"step": 1, "gradient": [[1.0, 2.0], [3.0, 4.0]]}), 422),
    ("gradient ragged", "fo", TELL, body({"step": 1, "gradient": [1.0, [2.0], 3.0, 4.0]}), 422),
    ("gradient strings", "fo", TELL, body({"step": 1, "gradient": ["1", "a", "2", "3"]}), 422),
    ("gradient an object", "fo", TELL, body({"step": 1, "gradient": {"0": 1.0}}), 422),
    ("indices out of range", "zo", TELL, body({"step": 1, "indices": [Q], "f_x": 1.0, "f_plus": [1.0]}), 422),
    ("indices negative", "zo", TELL, body({"step": 1, "indices": [-1], "f_x": 1.0, "f_plus": [1.0]}), 422),
    ("indices repeated", "zo", TELL, body({"step": 1, "indices": [0, 0], "f_x": 1.0, "f_plus": [1.0, 1.0]}), 422),
    ("indices empty", "zo", TELL, body({"step": 1, "indices": [], "f_x": 1.0, "f_plus": []}), 422),
    ("indices vs values", "zo", TELL, body({"step": 1, "indices": [0, 1], "f_x": 1.0, "f_plus": [1.0]}), 422),
    ("coefficients overflow", "zo", TELL, body({"step": 1, "f_x": -1e308, "f_plus": [1e308, 1e308]}), 422),
    ("coefficients beyond float32", "zo", TELL, body({"step": 1, "f_x": 0.0, "f_plus": [3e38, 0.0]}), 422),
    # finite, but AdaMM squares the gradient in float32: v would be inf and x stuck (or NaN)
    ("ZO gradient squares overflow", "zo", TELL, body({"step": 1, "f_x": 0.0, "f_plus": [1e16, -1e16]}), 422),
    ("gradient squares overflow", "fo", TELL, body({"step": 1, "gradient": [0.0, 2e19, 0.0, 0.0]}), 422),
    ("ask x wrong dim", "zo", ASK, body({"x": [0.0] * (DIM + 2)}), 422),
    ("ask x not a list", "zo", ASK, body({"x": 3.0}), 422),
    ("ask unknown field", "zo", ASK, body({"y": [0.0]}), 422),
    ("metric missing value", "zo", METRICS, body({"metrics": {"acc": 1.0}}), 422),
    ("metric not a number", "zo", METRICS, body({"value": "low"}), 422),
    ("metric reserved name", "zo", METRICS, body({"value": 1.0, "metrics": {"lr": 5.0}}), 422),
    ("metric named not a number", "zo", METRICS, body({"value": 1.0, "metrics": {"acc": [1]}}), 422),
    # another route's vector field: refused, where it was silently ignored (a create's bounds on a
    # tell read as tightening X, and did not)
    ("tell constraint vector", "zo", TELL,
     body({"step": 1, "f_x": 1.0, "f_plus": [1.0, 1.0], "constraint.box.lower": [0.0] * DIM}), 422),
    ("tell x0 in a frame", "zo", TELL, frame({"step": 1, "f_x": 1.0, "f_plus": [1.0, 1.0]}, {"x0": [0.0] * DIM}), 422),
    ("ask constraint vector in a frame", "zo", ASK, frame({}, {"constraint.ball.center": [0.0] * DIM}), 422),
    ("ask gradient", "zo", ASK, body({"gradient": [0.0] * DIM}), 422),
    ("metric with a vector", "zo", METRICS, body({"value": 1.0, "x": [0.0] * DIM}), 422),
    ("metric with a frame vector", "zo", METRICS, frame({"value": 1.0}, {"x0": [0.0] * DIM}), 422),
    # a lone surrogate cannot be stored in any encoding: it was stored, then answered 500
    ("metric name a lone surrogate", "zo", METRICS, raw('{"value": 1.0, "metrics": {"acc\\udfff": 0.5}}'), 422),
    ("metric name empty", "zo", METRICS, body({"value": 1.0, "metrics": {"": 0.5}}), 422),
    ("metric name a control character", "zo", METRICS, body({"value": 1.0, "metrics": {"a\u0007": 0.5}}), 422),
    ("metric name spaced", "zo", METRICS, body({"value": 1.0, "metrics": {"acc ": 0.5}}), 422),
    ("create dim 0", "new", CREATE, body({"dim": 0}), 422),
    ("create no dim", "new", CREATE, body({"lr": 0.1}), 422),
    ("create method", "new", CREATE, body({"dim": 3, "method": "sgd"}), 422),
    ("create lr negative", "new", CREATE, body({"dim": 3, "lr": -0.1}), 422),
    ("create mu zero", "new", CREATE, body({"dim": 3, "mu": 0}), 422),
    ("create beta1 1", "new", CREATE, body({"dim": 3, "beta1": 1.0}), 422),
    ("create beta2 negative", "new", CREATE, body({"dim": 3, "beta2": -0.5}), 422),
    ("create directions 0", "new", CREATE, body({"dim": 3, "directions": 0}), 422),
    ("create distribution", "new", CREATE, body({"dim": 3, "distribution": "uniform"}), 422),
    ("create difference", "new", CREATE, body({"dim": 3, "difference": "backward"}), 422),
    ("create seed negative", "new", CREATE, body({"dim": 3, "seed": -1}), 422),
    ("create seed 2**64", "new", CREATE, body({"dim": 3, "seed": 2**64}), 422),
    ("create schedule factor", "new", CREATE, body({"dim": 3, "schedule": {"factor": 1.5}}), 422),
    ("create schedule patience", "new", CREATE, body({"dim": 3, "schedule": {"patience": -1}}), 422),
    ("create schedule unknown", "new", CREATE, body({"dim": 3, "schedule": {"cooldown": 2}}), 422),
    ("create x0 wrong dim", "new", CREATE, body({"dim": 3, "x0": [0.0, 1.0]}), 422),
    ("create unknown field", "new", CREATE, body({"dim": 3, "momentum": 0.9}), 422),
    ("create name too long", "new", CREATE, body({"dim": 3, "name": "n" * 201}), 422),
    ("create empty", "new", CREATE, raw(b""), 422),
]

BOX = {"box": {"lower": -1.0, "upper": 1.0}}
# (case id, request) -> what the 422's detail must name
CONSTRAINT_CASES = [
    ("box lower > upper", body({"dim": 3, "constraint": {"box": {"lower": [0, 2, 0], "upper": 1}}}),
     "constraint.box.lower > constraint.box.upper at index 1"),
    ("radius 0", body({"dim": 3, "constraint": {"ball": {"norm": "2", "center": 0, "radius": 0}}}),
     "constraint.ball.radius must be finite and > 0"),
    ("radius negative", body({"dim": 3, "constraint": {"ball": {"norm": "inf", "center": 0, "radius": -1}}}),
     "constraint.ball.radius"),
    ("radius NaN", raw('{"dim": 3, "constraint": {"ball": {"norm": "2", "center": 0, "radius": NaN}}}'),
     "constraint.ball.radius"),
    ("lower NaN", raw('{"dim": 3, "constraint": {"box": {"lower": NaN, "upper": 1}}}'), "constraint.box.lower"),
    ("upper beyond float64", raw('{"dim": 3, "constraint": {"box": {"lower": 0, "upper": 1%s}}}' % ("0" * 309)),
     "constraint.box.upper is beyond float32's range"),
    ("radius beyond float64", raw('{"dim": 3, "constraint": {"ball": {"norm": "2", "center": 0, "radius": 1%s}}}'
                                  % ("0" * 309)), "constraint.ball.radius is beyond float32's range"),
    ("a string in a list", body({"dim": 2, "constraint": {"box": {"lower": ["0", 0], "upper": 1}}}),
     "constraint.box.lower must be a number or a flat list of numbers"),
    ("a boolean in a list", body({"dim": 2, "constraint": {"box": {"lower": [True, 0], "upper": 2}}}),
     "constraint.box.lower must be a number or a flat list of numbers"),
    ("upper list with Infinity", raw('{"dim": 2, "constraint": {"box": {"lower": 0, "upper": [1, Infinity]}}}'),
     "constraint.box.upper"),
    ("frame upper NaN", frame({"dim": 2, "constraint": {"box": {"lower": 0}}},
                              {"constraint.box.upper": [1.0, NAN]}), "constraint.box.upper"),
    ("lower wrong length", body({"dim": 3, "constraint": {"box": {"lower": [0, 0], "upper": 1}}}),
     "constraint.box.lower has 2 values, the session has dim 3"),
    ("frame center wrong length", frame({"dim": 3, "constraint": {"ball": {"norm": "2", "radius": 1}}},
                                        {"constraint.ball.center": [0.0] * 4}), "constraint.ball.center has 4 values"),
    ("center given twice", frame({"dim": 2, "constraint": {"ball": {"norm": "2", "center": [0, 0], "radius": 1}}},
                                 {"constraint.ball.center": [0.0, 0.0]}), "constraint.ball.center is given twice"),
    ("null bound beside its vector", body({"dim": 2, "constraint": {"box": {"lower": None, "upper": 1}},
                                           "constraint.box.lower": [0, 0]}), "constraint.box.lower is null"),
    ("null center beside its frame",
     frame({"dim": 2, "constraint": {"ball": {"norm": "2", "center": None, "radius": 1}}},
           {"constraint.ball.center": [0.0, 0.0]}), "constraint.ball.center is null"),
    ("null norm", body({"dim": 2, "constraint": {"ball": {"norm": None, "center": 0, "radius": 1}}}),
     'constraint.ball.norm is null; it must be "2" or "inf"'),
    ("integer beyond float64 in a vector",
     raw('{"dim": 2, "constraint": {"box": {"upper": 1}}, "constraint.box.lower": [0, -1' + '0' * 400 + ']}'),
     "constraint.box.lower[1] is beyond float32's range"),
    ("integer beyond float64 in x0", raw('{"dim": 2, "x0": [0, 1' + '0' * 400 + ']}'),
     "x0[1] is beyond float32's range"),
    ("unknown norm", body({"dim": 3, "constraint": {"ball": {"norm": "1", "center": 0, "radius": 1}}}),
     "constraint.ball.norm"),
    ("missing field", body({"dim": 3, "constraint": {"box": {"lower": 0}}}), "constraint.box.upper is missing"),
    ("unknown part", body({"dim": 3, "constraint": {"simplex": {}}}), "constraint has unknown fields"),
    ("empty", body({"dim": 3, "constraint": {}}), "constraint needs a box, a ball or both"),
    ("null with its vectors", body({"dim": 2, "constraint": None, "constraint.box.lower": [-1, -1],
                                    "constraint.box.upper": [1, 1]}), "constraint is null (no feasible set), yet"),
    ("null with its vectors in a frame", frame({"dim": 2, "constraint": None}, {"constraint.box.lower": [-1.0, -1.0],
                                                                               "constraint.box.upper": [1.0, 1.0]}),
     "constraint is null (no feasible set), yet"),
    ("vectors without a constraint", body({"dim": 2, "constraint.box.lower": [-1, -1], "constraint.box.upper": [1, 1]}),
     "constraint is missing, yet 'constraint.box.lower', 'constraint.box.upper' came with it: send the"),
    ("vectors without a constraint in a frame", frame({"dim": 2}, {"constraint.ball.center": [0.0, 0.0]}),
     "constraint is missing, yet 'constraint.ball.center' came with it"),
    ("vectors of a part the constraint leaves out",
     body({"dim": 2, "constraint": {"ball": {"norm": "2", "center": 0, "radius": 1}},
           "constraint.box.lower": [-1, -1], "constraint.box.upper": [1, 1]}),
     "constraint.box is missing, yet 'constraint.box.lower', 'constraint.box.upper' came with it"),
    ("an empty constraint with vectors", frame({"dim": 2, "constraint": {}}, {"constraint.box.lower": [-1.0, -1.0],
                                                                             "constraint.box.upper": [1.0, 1.0]}),
     "constraint.box is missing, yet"),
    ("not an object", body({"dim": 3, "constraint": [1, 2]}), "constraint"),
    ("box and ball apart", body({"dim": 2, "constraint": {"box": {"lower": 2, "upper": 3},
                                                          "ball": {"norm": "2", "center": 0, "radius": 1}}}),
     "constraint.box and constraint.ball do not overlap"),
    ("a box and a ball of numbers apart in d dimensions",
     body({"dim": 4, "constraint": {"box": {"lower": 0, "upper": 1},
                                    "ball": {"norm": "2", "center": 2, "radius": 1.8}}}),
     "constraint.box and constraint.ball do not overlap: the ball's center lies 2 from the box in 4 dimensions"),
    ("a set on an unknown method", body({"dim": 3, "method": "pgd", **{"constraint": BOX}}), "method"),
    ("normalizer on zo-sgd", body({"dim": 3, "method": "zo-sgd", "normalizer": "v", "constraint": BOX}),
     "normalizer applies to zo-adamm and adamm only"),
    ("x0 wrong length", body({"dim": 3, "x0": [0.0, 1.0]}), "x0 has 2 values; the session has dim 3"),
    ("frame x0 wrong length", frame({"dim": 3}, {"x0": [0.0] * 4}), "x0 has 4 values; the session has dim 3"),
    ("x0 outside the box", body({"dim": 3, "x0": [0.0, 1.5, 0.0], "constraint": BOX}),
     "x0 lies above constraint.box at 1 coordinate (by up to 0.5, at index 1)"),
    ("x0 a hair beyond the box", body({"dim": 3, "x0": [0.0, 1.0001, 0.0], "constraint": BOX}),
     "x0 lies above constraint.box at 1 coordinate"),
    ("frame x0 outside the ball", frame({"dim": 2, "constraint": {"ball": {"norm": "2", "center": 0, "radius": 1}}},
                                        {"x0": [3.0, 4.0]}),
     "||x0 - center||_2 = 5 exceeds constraint.ball.radius 1 by 4"),
]


def _setup(client) -> dict:
    """A zo-adamm and an adamm session, each one step in, with one metric reported."""
    f, grad = objective(DIM)
    x0 = x0_for(DIM)
    zo = create(client, dim=DIM, x0=x0, directions=Q, seed=11)
    opt = reference(zo, x0)
    values = zo_values(opt, f)
    tell(client, zo["id"], values)
    apply_zo(opt, values)
    fo = create(client, dim=DIM, x0=x0, method="adamm")
    tell(client, fo["id"], {"step": 0, "gradient": grad(x0).tolist()})
    for s in (zo, fo):
        assert client.post(f"/v1/sessions/{s['id']}/metrics", json={"value": 1.0}).status_code == 200
    return {"zo": zo["id"], "fo": fo["id"], "reference": opt, "f": f}


@pytest.fixture
def sessions(client):
    return _setup(client)


@pytest.fixture(scope="module", params=STORES)
def shared(request):
    """One app per store for the whole case table (the cases change nothing, so they can share)."""
    from fastapi.testclient import TestClient

    from zoadamm_service.main import create_app
    from zoadamm_service.settings import Settings

    url = request.getfixturevalue("module_redis_url") if request.param == "redis" else None
    with TestClient(create_app(Settings(redis_url=url)), raise_server_exceptions=False) as c:
        sessions = _setup(c)
        sessions["before"] = everything(c, sessions)
        yield c, sessions


def send(client, kind: str, route: str, request, sessions) -> object:
    if isinstance(request, bytes):
        request = {"content": request, "headers": {"Content-Type": FRAME}}
    path = "/v1/sessions" if route == CREATE else f"/v1/sessions/{sessions[kind]}/{route}"
    return client.post(path, **request)


def everything(client, sessions):
    listing = client.get("/v1/sessions").json()
    return listing, [snapshot(client, sessions[k]) for k in ("zo", "fo")]


@pytest.mark.parametrize("kind,route,request_,status", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_request_is_refused_and_changes_nothing(shared, kind, route, request_, status):
    client, sessions = shared
    r = send(client, kind, route, request_, sessions)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert isinstance(r.json()["detail"], (str, list)) and r.json()["detail"]
    assert everything(client, sessions) == sessions["before"]  # as the module found them


@pytest.mark.parametrize("request_,named", [c[1:] for c in CONSTRAINT_CASES], ids=[c[0] for c in CONSTRAINT_CASES])
def test_a_bad_constraint_is_422_naming_the_field(shared, request_, named):
    """A create with a bad feasible set (or x0 outside it) is refused, saying which field and why,
    and creates nothing."""
    client, sessions = shared
    r = send(client, "new", CREATE, request_, sessions)
    assert r.status_code == 422, r.text
    assert named in r.json()["detail"], r.text  # a client that reads only "detail" learns the field
    assert everything(client, sessions) == sessions["before"]


AMPLIFIERS = [  # small bodies that once made one error per element: a 2 MB body, a 60 MB answer
    ("a long list of non-numbers", "zo", "tell",
     '{"step": 1, "f_x": 1, "f_plus": [' + ", ".join(["{}"] * 200_000) + "]}", "f_plus"),
    ("a long list of bad indices", "zo", "tell",
     '{"step": 1, "f_x": 1, "f_plus": [1], "indices": [' + ", ".join(["-1"] * 200_000) + "]}", "indices"),
    ("thousands of unknown fields", "zo", "tell",
     json.dumps({"step": 1, **{f"field{i}": 1 for i in range(50_000)}}), "field0"),
    ("thousands of unknown schedule fields", "new", CREATE,
     json.dumps({"dim": 2, "schedule": {f"field{i}": 1 for i in range(50_000)}}), "field0"),
    ("thousands of unknown constraint fields", "new", CREATE,
     json.dumps({"dim": 2, "constraint": {f"field{i}": 0 for i in range(50_000)}}), "and 49,995 more"),
    ("thousands of unknown frame vectors", "new", CREATE,
     wire.encode({"dim": 2}, {f"v{i}": np.zeros(1, np.float32) for i in range(50_000)}), "and 49,995 more"),
    ("thousands of named metrics", "zo", "metrics",
     json.dumps({"value": 1, "metrics": {f"m{i}": "x" for i in range(50_000)}}), "ZOADAMM_MAX_METRIC_NAMES"),
]


@pytest.mark.parametrize("kind,route,text,named", [c[1:] for c in AMPLIFIERS], ids=[c[0] for c in AMPLIFIERS])
def test_a_body_of_many_bad_values_gets_a_short_answer(shared, kind, route, text, named):
    """A 422 lists at most 20 errors and says how many there were; a list stops at its first bad
    value, and a report's metrics are counted before each is looked at."""
    client, sessions = shared
    r = send(client, kind, route, text if isinstance(text, bytes) else raw(text), sessions)
    assert r.status_code == 422, r.text
    assert named in r.text and len(r.content) < 4096, r.text[:300]
    errors = r.json().get("errors", [])
    assert len(errors) <= 20
    if len(errors) == 20:
        assert "50,000 errors, the first 20 listed" in r.json()["detail"]
    assert everything(client, sessions) == sessions["before"]


@pytest.mark.parametrize("kind,route,value,named", [
    ("new", CREATE, {"dim": 3, "x0": [0.0, None, 1.0]}, "x0[1] is null"),
    ("new", CREATE, {"dim": 3, "constraint": {"box": {"lower": None, "upper": 1.0}}}, "constraint.box.lower is null"),
    ("zo", "tell", {"step": 1, "f_x": None, "f_plus": [1.0, 2.0]},
     "f_x is required for forward differences, and this tell has it missing or null"),
], ids=["x0", "a bound", "f_x"])
def test_a_null_where_a_number_belongs_names_the_likely_cause(shared, kind, route, value, named):
    """JavaScript's JSON.stringify writes NaN and Infinity as null: the 422 says so."""
    client, sessions = shared
    r = send(client, kind, route, body(value), sessions)
    assert r.status_code == 422 and named in r.json()["detail"] and "JSON.stringify" in r.json()["detail"], r.text
    assert everything(client, sessions) == sessions["before"]


@pytest.mark.parametrize("kind, route, request_, says", [
    ("new", CREATE, {"dim": 3, "x0": [0.0, 1e39, 0.0]}, "x0[1] = 1e+39"),
    ("fo", TELL, {"step": 1, "gradient": [0.0, 0.0, 0.0, -3.5e38]}, "gradient[3] = -3.5e+38"),
    ("zo", ASK, {"x": [1e39, 0.0, 0.0, 0.0]}, "x[0] = 1e+39"),
], ids=["x0", "gradient", "x"])
def test_a_vector_beyond_float32_names_its_first_such_value(shared, kind, route, request_, says):
    client, sessions = shared
    r = send(client, kind, route, body(request_), sessions)
    detail = r.json()["detail"]
    assert r.status_code == 422 and "float32-overflowing values (the first: " + says + ")" in detail, r.text
    assert everything(client, sessions) == sessions["before"]


@pytest.mark.parametrize("indices,f_x,says", [
    ([1], [1.0, 1.0], "f_x has 2 values; expected 1"),  # it said "expected 1 or 1"
    ([0, 1], [1.0, 1.0, 1.0], "f_x has 3 values; expected 1 or 2 (one per value of f_plus)"),
    (None, 1.0, "f_plus has 1 value; expected 2"),  # it said "1 values"
])
def test_a_part_with_f_x_of_another_length_says_what_it_takes(shared, indices, f_x, says):
    client, sessions = shared
    f_plus = [1.0] * (1 if indices is None else len(indices))
    r = send(client, "zo", TELL, body({"step": 1, "f_x": f_x, "f_plus": f_plus}
                                      | ({} if indices is None else {"indices": indices})), sessions)
    assert r.status_code == 422 and r.json()["detail"] == says, r.text
    assert everything(client, sessions) == sessions["before"]


@pytest.mark.parametrize("f_x, place, says", [
    ("abc", ["f_x"], "Input should be a number or a list of numbers"),
    ({"value": 1.0}, ["f_x"], "Input should be a number or a list of numbers"),
    ([1.0, "a"], ["f_x", 1], "Input should be a valid number"),
], ids=["a string", "an object", "a list's element"])
def test_a_bad_f_x_is_one_error_of_the_kind_given(shared, f_x, place, says):
    """f_x takes a number or a list: pydantic tries both and named each try (f_x.float,
    f_x.list[float]), two errors of a field no body has."""
    client, sessions = shared
    r = send(client, "zo", TELL, body({"step": 1, "f_x": f_x, "f_plus": [1.0, 2.0]}), sessions)
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [{"loc": place, "msg": says, "type": "float_type"}], r.text
    assert r.json()["detail"] == f"invalid request: {'.'.join(map(str, place))}: {says}"
    assert everything(client, sessions) == sessions["before"]


@pytest.mark.parametrize("kind, route, value, named", [
    ("zo", TELL, {"step": 1, "fx": 1.0, "f_plus": [1.0, 2.0]}, "invalid request: fx: Extra inputs are not permitted "
     "(did you mean f_x?)"),
    ("new", CREATE, {"dim": 3, "schedule": {"patience": 2, "factr": 0.5}}, "invalid request: schedule.factr: Extra "
     "inputs are not permitted (did you mean factor?)"),
    ("new", CREATE, {"dim": 3, "momentum": 0.9}, "invalid request: momentum: Extra inputs are not permitted"),
], ids=["tell", "nested", "nothing close"])
def test_an_unknown_field_names_the_field_it_is_close_to(shared, kind, route, value, named):
    """A client in any language (curl, JavaScript) read "fx: Extra inputs are not permitted" with
    no word of f_x, where the SDK's users got "did you mean"."""
    client, sessions = shared
    r = send(client, kind, route, body(value), sessions)
    assert r.status_code == 422 and r.json()["detail"] == named, r.text
    assert everything(client, sessions) == sessions["before"]


def test_function_values_sent_as_frame_vectors_are_told_where_they_go(shared):
    client, sessions = shared
    r = send(client, "zo", TELL, frame({"step": 1, "f_x": 1.0}, {"f_plus": [1.0, 2.0]}), sessions)
    assert r.status_code == 422, r.text
    assert "function values included) go in the frame's JSON header" in r.json()["detail"]
    assert everything(client, sessions) == sessions["before"]


@pytest.mark.parametrize("request_, hint", [
    ({"content": b'{"step": 1, "f_x": 1.0, "f_plus": [1.0, 2.0]}', "headers": {"Content-Type": FRAME}},
     "this body is JSON: send it as application/json"),
    ({"content": wire.encode({"step": 1, "f_x": 1.0, "f_plus": [1.0, 2.0]}), "headers": JSON_TYPE},
     f"this body is a binary frame: send it as {FRAME}"),
    (frame_bytes(b'{"step": 1}\0\0\0'), "pad the header with spaces, not NUL bytes"),
    ({"content": b'{"x":1}', "headers": {"Content-Type": FRAME}}, "frame too short; this body is JSON"),
    ({"content": b'\xef\xbb\xbf{"step": 1, "f_x": 1.0}', "headers": {"Content-Type": FRAME}}, "this body is JSON"),
    (frame_bytes(b'{"step": 1, "vectors": [["f_plus", 2.0]]}', bytes(8)), "each count a whole number >= 0"),
])
def test_a_malformed_body_says_how_to_mend_it(shared, request_, hint):
    """A JSON body sent as a frame, a frame sent as JSON, a header padded with NULs, a count written
    as a float: the 400 says what to change, where it only said what was wrong."""
    client, sessions = shared
    r = send(client, "zo", TELL, request_, sessions)
    assert r.status_code == 400 and hint in r.json()["detail"], r.text
    assert everything(client, sessions) == sessions["before"]


def test_a_header_that_is_no_json_for_another_reason_gets_no_padding_hint(shared):
    client, sessions = shared
    r = send(client, "zo", TELL, frame_bytes(b'{"step"'), sessions)
    assert r.status_code == 400 and "frame header is not JSON" in r.json()["detail"], r.text
    assert "NUL" not in r.json()["detail"]


def test_the_sessions_still_step_after_the_bad_requests(shared):
    client, sessions = shared
    opt, f = sessions["reference"], sessions["f"]
    values = zo_values(opt, f)
    answer = tell(client, sessions["zo"], values)
    apply_zo(opt, values)
    assert answer["step"] == 2 and bits(np.array(answer["x"], np.float32)) == bits(opt.state.x)


@pytest.mark.parametrize("method,path", [
    ("POST", "/ask"), ("POST", "/tell"), ("POST", "/metrics"), ("GET", "/metrics"), ("GET", "/x"),
    ("GET", ""), ("DELETE", ""),
])
def test_unknown_session_is_404(client, sessions, method, path, store_kind):
    before = everything(client, sessions)
    kwargs = {"json": {"step": 0, "f_x": 1.0, "f_plus": [1.0]}} if path == "/tell" else {}
    if path == "/metrics" and method == "POST":
        kwargs = {"json": {"value": 1.0}}
    missing = "0123456789abcdef" * 2  # the format of an id, but no session's
    r = client.request(method, f"/v1/sessions/{missing}{path}", **kwargs)
    assert r.status_code == 404 and missing in r.json()["detail"]
    # the embedded store's sessions end with its process: a 404 there says so, as a restart may be why
    assert ("a restart empties: REDIS_URL keeps them" in r.json()["detail"]) == (store_kind == "memory")
    assert everything(client, sessions) == before


@pytest.mark.parametrize("method,path,params", [
    ("POST", "/tell", {"answer": "everything"}), ("POST", "/ask", {"vectors": "maybe"}),
    ("GET", "/metrics", {"last": -1}), ("GET", "LIST", {"limit": 0}), ("GET", "LIST", {"offset": -3}),
])
def test_bad_query_parameters_are_422(client, sessions, method, path, params):
    before = everything(client, sessions)
    url = "/v1/sessions" if path == "LIST" else f"/v1/sessions/{sessions['zo']}{path}"
    opt, f = sessions["reference"], sessions["f"]
    r = client.request(method, url, params=params, json=zo_values(opt, f) if path == "/tell" else None)
    assert r.status_code == 422, r.text
    assert everything(client, sessions) == before


def test_mutated_frames_never_answer_500(client, sessions):
    """Seeded byte flips of a valid tell frame: whatever they decode to, the answer is a 4xx
    that leaves the session alone, or (when a flip keeps the frame valid) a proper tell."""
    opt, f = sessions["reference"], sessions["f"]
    valid = wire.encode(zo_values(opt, f))
    rng = np.random.default_rng(0)
    seen = set()
    before = snapshot(client, sessions["zo"])
    for _ in range(40):
        mutated = bytearray(valid)
        for at in rng.integers(0, len(valid), size=rng.integers(1, 4)):
            mutated[at] = int(rng.integers(0, 256))
        r = client.post(f"/v1/sessions/{sessions['zo']}/tell", content=bytes(mutated), headers={"Content-Type": FRAME})
        seen.add(r.status_code)
        assert r.status_code in (200, 400, 409, 422), r.text
        after = snapshot(client, sessions["zo"])
        assert r.status_code == 200 or after == before
        before = after
    assert 400 in seen


# --- body limits -----------------------------------------------------------------------------
LIMIT = 1024


@pytest.fixture
def small(make_app, serve):
    """A client of an app that takes bodies of at most LIMIT bytes, with a session one step in."""
    with serve(make_app(max_body_bytes=LIMIT)) as c:
        session = create(c, dim=DIM, x0=x0_for(DIM), directions=Q)
        yield c, session["id"]


def _chunks(data: bytes, size: int = 100):
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.parametrize("route", [TELL, ASK, METRICS, CREATE])
@pytest.mark.parametrize("how", ["content-length", "streamed"])
def test_a_body_over_the_limit_is_413(small, route, how):
    c, sid = small
    before = (c.get("/v1/sessions").json(), snapshot(c, sid))
    data = json.dumps({"step": 0, "f_x": 1.0, "f_plus": [0.5] * 200, "padding": "x" * LIMIT}).encode()
    assert len(data) > LIMIT
    path = "/v1/sessions" if route == CREATE else f"/v1/sessions/{sid}/{route}"
    if how == "streamed":  # no Content-Length: the limit is enforced while reading
        r = c.post(path, content=_chunks(data), headers=JSON_TYPE)
        assert r.request.headers.get("transfer-encoding") == "chunked"
    else:
        r = c.post(path, content=data, headers=JSON_TYPE)
        assert int(r.request.headers["content-length"]) == len(data)
    assert r.status_code == 413, r.text
    assert (c.get("/v1/sessions").json(), snapshot(c, sid)) == before


@pytest.mark.parametrize("route", [TELL, CREATE])
@pytest.mark.parametrize("how", ["content-length", "streamed"])
def test_a_json_body_over_the_json_limit_is_refused_before_it_is_read(make_app, route, how):
    """JSON has its own limit, below the frame's: known from the Content-Type, so a JSON body
    declared over it is refused with none of it read, and one streamed is cut off at it (the
    service read up to the frame's 64 MiB of each before)."""
    import asyncio

    app = make_app(max_json_bytes=LIMIT, max_body_bytes=64 * LIMIT)
    chunk, pulled = b" " * 4 * LIMIT, []

    async def call(path: str, receive, length: int | None = None) -> list[dict]:
        sent: list[dict] = []
        scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
                 "headers": [(b"content-type", b"application/json"),
                             *([(b"content-length", str(length).encode())] if length is not None else [])],
                 "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 80),
                 "client": ("127.0.0.1", 1), "root_path": "", "state": {}}

        async def send(message):
            sent.append(message)

        await app(scope, receive, send)
        return sent

    async def huge():
        pulled.append(len(chunk))
        return {"type": "http.request", "body": chunk, "more_body": len(pulled) < 16}

    async def post() -> list[dict]:
        async with app.router.lifespan_context(app):
            path = "/v1/sessions"
            if route == TELL:
                async def small_body():
                    return {"type": "http.request", "body": json.dumps({"dim": DIM}).encode(), "more_body": False}

                made = await call(path, small_body)
                path = f"/v1/sessions/{json.loads(made[1]['body'])['id']}/tell"
            return await call(path, huge, len(chunk) * 16 if how == "content-length" else None)

    sent = asyncio.run(post())
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["detail"].startswith(f"a JSON body is limited to {LIMIT} bytes")
    assert len(pulled) == (0 if how == "content-length" else 1)  # 4 * LIMIT is over it at once


def test_a_lying_content_length_is_still_caught(small):
    c, sid = small
    before = snapshot(c, sid)
    data = b'{"value": 1.0, "metrics": {"pad": 1.0}}' + b" " * (2 * LIMIT)
    r = c.post(f"/v1/sessions/{sid}/metrics", content=_chunks(data), headers={**JSON_TYPE, "Content-Length": "10"})
    assert r.status_code in (400, 413), r.text
    assert snapshot(c, sid) == before


def test_a_body_under_the_limit_is_taken(small):
    c, sid = small
    r = c.post(f"/v1/sessions/{sid}/metrics", content=_chunks(b'{"value": 2.5}', 3), headers=JSON_TYPE)
    assert r.status_code == 200 and r.json()["value"] == 2.5


def test_directions_larger_than_the_limit_are_not_sent(small):
    c, _ = small
    dim = LIMIT // 8 + 2  # x0 fits in a body, two directions do not
    session = create(c, dim=dim, x0=np.zeros(dim, np.float32), directions=2)
    r = c.post(f"/v1/sessions/{session['id']}/ask", params={"vectors": "true"})
    assert r.status_code == 422 and "docs/directions.md" in r.json()["detail"]
    assert "binary frame" in r.json()["detail"]  # JSON's values are up to 6 times the frame's
    assert c.post(f"/v1/sessions/{session['id']}/ask").status_code == 200


def test_directions_too_large_for_the_frame_are_not_advised_the_frame(small):
    """The frame was asked for and is still too large: its own advice would send the client in a circle."""
    c, _ = small
    dim = LIMIT // 8 + 2
    session = create(c, dim=dim, x0=np.zeros(dim, np.float32), directions=4)  # 4 x 4 bytes x dim > LIMIT
    r = c.post(f"/v1/sessions/{session['id']}/ask", params={"vectors": "true"}, headers={"Accept": FRAME})
    assert r.status_code == 422 and "regenerate them" in r.json()["detail"]
    assert "binary frame" not in r.json()["detail"]


@pytest.mark.parametrize("how", ["json", "frame"])
def test_an_integer_of_thousands_of_digits_is_400_without_pythons_advice(client, sessions, how):
    before = everything(client, sessions)
    header = '{"dim": 1' + "0" * 5000 + ', "vectors": []}'
    body = raw(header) if how == "json" else frame_bytes(header.encode())
    r = send(client, "new", CREATE, body, sessions)
    assert r.status_code == 400 and "more than 4,300 digits" in r.json()["detail"], r.text
    assert "set_int_max_str_digits" not in r.text
    assert everything(client, sessions) == before


def test_a_json_body_labelled_utf_8_or_opening_with_its_byte_order_mark_is_taken(client, sessions):
    values = {"value": 1.0}
    for content, media in ((json.dumps(values).encode(), "application/json; charset=UTF-8"),
                           (b"\xef\xbb\xbf" + json.dumps(values).encode(), "application/json"),
                           (json.dumps(values).encode(), 'application/json;charset="utf-8"')):
        r = client.post(f"/v1/sessions/{sessions['zo']}/metrics", content=content, headers={"Content-Type": media})
        assert r.status_code == 200, (media, r.text)


def test_a_name_in_any_script_with_joiners_and_direction_marks_is_taken(client):
    for name in ("שלום run", "می\u200cخواهم", "👩\u200d🔬 lab", "run \u200f7", "😀"):
        r = client.post("/v1/sessions", json={"dim": 2, "name": name})
        assert r.status_code == 201 and r.json()["name"] == name, (name, r.text)


def test_a_422_detail_quotes_a_key_the_client_chose_and_keeps_it_short(client):
    """``detail`` names the first error's place; a key of the client's own (a metric's name, an
    unknown field) with a line break or a bidi override is escaped there, and a long one cut,
    as a log line that prints the detail must not break (``errors`` keeps the key whole)."""
    sid = client.post("/v1/sessions", json={"dim": 2}).json()["id"]
    r = client.post(f"/v1/sessions/{sid}/metrics", json={"value": 1, "metrics": {"a\nb\u202e": 1}})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail.startswith("invalid request: metrics.'a\\nb\\u202e'") and detail.isprintable(), detail
    r = client.post("/v1/sessions", json={"dim": 2, "x" * 100_000: 1})
    assert r.status_code == 422 and len(r.json()["detail"]) < 200, r.text[:200]
    assert r.json()["errors"][0]["loc"] == ["x" * 100_000]


@pytest.mark.parametrize("route", ["create", "metrics"])
@pytest.mark.parametrize("depth", [600, 950])
def test_json_nested_deep_with_an_idempotency_key_is_422_not_500(client, sessions, route, depth):
    """The key's fingerprint read the fields recursively: JSON the parser took (it refuses from
    about 1,000 levels on) ran out of stack there, a 500 with a traceback logged per request."""
    before = everything(client, sessions)
    text = '{"value": 1, "dim": 2, "nested": ' + "[" * depth + "]" * depth + "}"
    path = "/v1/sessions" if route == "create" else f"/v1/sessions/{sessions['zo']}/metrics"
    r = client.post(path, content=text.encode(), headers={**JSON_TYPE, "Idempotency-Key": f"deep-{depth}"})
    assert r.status_code in (400, 422), r.text
    assert everything(client, sessions) == before


def test_a_name_refused_for_a_format_character_is_told_so(client, sessions):
    r = client.post(f"/v1/sessions/{sessions['zo']}/metrics", json={"value": 1, "metrics": {"a\u200db": 1}})
    assert r.status_code == 422 and "format characters" in r.json()["detail"], r.text


def test_a_refused_first_ask_leaves_the_parameters_unset(make_app, serve):
    """The first ask's x sets the parameters: one refused for its answer's size, or for a lease on
    a session that takes gradients, must not, or the client's x, mended, gets 409 forever."""
    with serve(make_app(max_body_bytes=LIMIT)) as c:
        zo = c.post("/v1/sessions", json={"dim": 100, "directions": 2}).json()["id"]
        fo = c.post("/v1/sessions", json={"dim": 2, "method": "adamm"}).json()["id"]
        big = c.post(f"/v1/sessions/{zo}/ask?vectors=true", json={"x": [0.25] * 100})
        lease = c.post(f"/v1/sessions/{fo}/ask", json={"x": [1.0, 2.0], "lease": 1, "worker": "w"})
        assert big.status_code == 422 and "too large to send" in big.json()["detail"], big.text
        assert lease.status_code == 422 and "a lease is of directions" in lease.json()["detail"], lease.text
        assert [c.get(f"/v1/sessions/{sid}").json()["has_parameters"] for sid in (zo, fo)] == [False, False]
        assert c.post(f"/v1/sessions/{zo}/ask", json={"x": [0.5] * 100}).status_code == 200  # the mended x
        assert c.post(f"/v1/sessions/{fo}/ask", json={"x": [3.0, 4.0]}).status_code == 200
        assert c.get(f"/v1/sessions/{fo}/x").json()["x"] == [3.0, 4.0]
