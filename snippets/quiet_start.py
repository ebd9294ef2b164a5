"""Import TensorFlow without its start-up chatter on machines without a GPU.

On import and at its first device query TensorFlow's C++ side prints lines that say
nothing to a user of this project: that absl logging is not initialized, that oneDNN
is on, that no CUDA driver was found, that cuInit failed. ``TF_CPP_MIN_LOG_LEVEL``
does not reach all of them, so the command line imports TensorFlow here: the
standard error stream is captured at the file-descriptor level while TensorFlow
starts, and every captured line except those known start-up notices is printed
again. A real warning or error still shows.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

START_UP_NOISE = re.compile(
    r"absl::InitializeLog|oneDNN custom operations|cuda drivers|cuInit|cudart_stub|"
    r"This TensorFlow binary is optimized|rebuild TensorFlow with the appropriate compiler flags|"
    r"Unable to register cu(DNN|FFT|BLAS) factory|computation placer already registered|"
    r"TF-TRT Warning"
)


def import_tensorflow():
    """``import tensorflow`` and list its devices, showing only what is not start-up noise."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # the CUDA probe happens here, not at the first op
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        lines = captured.read().decode(errors="replace").splitlines()
    for line in lines:
        if not START_UP_NOISE.search(line):
            print(line, file=sys.stderr)
    return tf
