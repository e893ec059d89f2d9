# SPDX-License-Identifier: MIT OR Apache-2.0
"""What the examples share: starting GStreamer, finding the plugin, reading the bus while a
pipeline plays, reading a buffer's custom meta, and keeping the frames that go in and out of an
element.

Plain PyGObject (Debian's python3-gi with gir1.2-gstreamer-1.0) is enough: the elements give
every value of their metas and messages as plain fields (numbers, strings, booleans). The two
array fields of onnxsegmentation (`class-names`, `fractions`) need the python3-gst-1.0
overrides; their values are also in the fields `classes`, `class-<i>-name` and `fraction-<i>`.
"""
import math
import os
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# Arrays (GstValueArray): plain PyGObject raises TypeError on them.
ARRAY_FIELDS = {"class-names", "fractions"}


def repo_path(*parts):
    return os.path.join(REPO, *parts)


def init():
    """Starts GStreamer and checks that the plugin is there (and, when GST_PLUGIN_PATH is
    set, that it is the copy found there rather than an older installed one)."""
    Gst.init(None)
    plugin = Gst.Registry.get().find_plugin("autoencoder")
    if plugin is None:
        sys.exit("the autoencoder plugin was not found: run scripts/install.sh, or set "
                 "GST_PLUGIN_PATH to a folder holding libgstautoencoder.so")
    folders = [f for f in os.environ.get("GST_PLUGIN_PATH", "").split(os.pathsep) if f]
    filename = os.path.abspath(plugin.get_filename())
    if folders and not any(filename.startswith(os.path.abspath(f) + os.sep) for f in folders):
        sys.exit(f"the autoencoder plugin came from {filename}, not from GST_PLUGIN_PATH")


def fields(structure):
    """Every field of a meta's or message's structure as a dict, arrays left out. Reads each
    field, so a field plain PyGObject cannot read fails here."""
    names = (structure.nth_field_name(i) for i in range(structure.n_fields()))
    return {name: structure.get_value(name) for name in names if name not in ARRAY_FIELDS}


def meta_fields(buffer, meta_name):
    """The fields of the custom meta `meta_name` on `buffer`, or None if it has none."""
    meta = buffer.get_custom_meta(meta_name)
    return None if meta is None else fields(meta.get_structure())


def class_fractions(values):
    """{class name: fraction} from onnxsegmentation's meta or message fields."""
    return {values[f"class-{i}-name"]: values[f"fraction-{i}"] for i in range(values["classes"])}


def is_finite_number(value):
    return isinstance(value, float) and math.isfinite(value)


_probe_failures = []


def probe(function):
    """Makes `function(pad, info, ...)` a pad probe that lets buffers pass. An exception in it
    (a failed check, a field that cannot be read) is kept and raised by play_until on the main
    thread, rather than printed by PyGObject on the streaming thread and lost."""
    def wrapper(pad, info, *args):
        try:
            function(pad, info, *args)
        except Exception as e:  # noqa: BLE001 (handed to the main thread)
            _probe_failures.append(e)
        return Gst.PadProbeReturn.OK
    return wrapper


def play_until(pipeline, done, timeout=20.0, on_element=None):
    """Reads the bus of a playing pipeline until `done()` is true. Element messages (the
    elements' own: autoencoder-provider, -segmentation, -anomaly) go to `on_element(name,
    fields, message)`; an error message raises PipelineError; warnings are printed; EOS
    before `done()` is a failure (the examples' sources are live and endless), and so is an
    exception in a pad probe."""
    bus = pipeline.get_bus()
    deadline = time.monotonic() + timeout
    types = (Gst.MessageType.ERROR | Gst.MessageType.WARNING | Gst.MessageType.EOS
             | Gst.MessageType.ELEMENT)
    while not done():
        if _probe_failures:
            raise _probe_failures[0]
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"not done within {timeout} s")
        message = bus.timed_pop_filtered(int(min(left, 0.1) * Gst.SECOND), types)
        if message is None:
            continue
        source = message.src.get_name() if message.src else "?"
        if message.type == Gst.MessageType.ERROR:
            raise PipelineError(source, *message.parse_error())
        if message.type == Gst.MessageType.WARNING:
            warning, _ = message.parse_warning()
            print(f"warning from {source}: {warning.message}")
        elif message.type == Gst.MessageType.EOS:
            raise AssertionError("end of stream before done")
        elif message.get_structure() is not None:
            structure = message.get_structure()
            values = fields(structure)  # read even when unused: every field must be readable
            if on_element is not None:
                on_element(structure.get_name(), values, message)


class PipelineError(Exception):
    """An error message from the bus: the element that posted it, and the GLib.Error, whose
    domain and code tell the kind (README, Troubleshooting) without parsing its text."""

    def __init__(self, source, error, debug):
        super().__init__(f"{source}: {error.message} ({debug})")
        self.source, self.error = source, error

    def kind(self):
        """(domain enum, code), e.g. (Gst.ResourceError, Gst.ResourceError.NOT_FOUND)."""
        for domain in (Gst.CoreError, Gst.LibraryError, Gst.ResourceError, Gst.StreamError):
            if self.error.matches(domain.quark(), self.error.code):
                return domain, domain(self.error.code)
        return None, self.error.code


def stop(pipeline):
    pipeline.set_state(Gst.State.NULL)


class Frames:
    """Keeps a copy of the last frames going into `element` and coming out of it, by PTS, from
    pad probes (they run on the streaming thread: they only copy, under a lock, and return)."""

    KEEP = 60

    def __init__(self, element):
        self.inputs, self.outputs = {}, {}
        self.lock = threading.Lock()
        keep = probe(self._keep)
        element.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, keep, self.inputs)
        element.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, keep, self.outputs)

    def _keep(self, pad, info, store):
        buffer = info.get_buffer()
        if buffer is not None:
            data = buffer.extract_dup(0, buffer.get_size())
            with self.lock:
                store[buffer.pts] = data
                if len(store) > self.KEEP:
                    del store[min(store)]

    def pairs(self, after=-1):
        """(pts, input bytes, output bytes) of the frames out, in order, with PTS > after."""
        with self.lock:
            return [(pts, self.inputs.get(pts), out)
                    for pts, out in sorted(self.outputs.items()) if pts > after]
