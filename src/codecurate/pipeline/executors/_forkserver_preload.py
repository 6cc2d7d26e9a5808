"""Imported by the multiprocessing forkserver when it starts (a forkserver preload module, set by
``local._start_forkserver``), and by nothing else: ties the forkserver's life to the process that started it.

``local._start_forkserver`` sets ``CODECURATE_FORKSERVER_PARENT`` to its own pid, from its main thread, for
the moment it starts the forkserver. Here, in the forkserver, when that pid is our parent: arm
``PR_SET_PDEATHSIG`` (SIGKILL when the parent exits), then exit at once if the parent died meanwhile. When it
is not (the variable is empty: started from another thread; the parent died before this ran; a value
inherited from elsewhere), nothing is armed and the forkserver exits as multiprocessing's own "alive" pipe
reports the parent's death (``local._worker_init`` makes the parent the pipe's only writer).
"""

import os

from codecurate.pipeline.executors.local import FORKSERVER_PARENT_ENV, die_with_parent

_parent = os.environ.pop(FORKSERVER_PARENT_ENV, "")
if _parent.isdigit() and int(_parent) == os.getppid():
    die_with_parent(int(_parent))
