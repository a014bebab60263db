"""The test process is the program here: it sets torch's thread count, as the CLIs do, since
the objective leaves the process as it found it."""

from zoadamm_worker.threads import use_torch_threads

use_torch_threads(1)
