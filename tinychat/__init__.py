"""tinychat: chat with a folder of notes through a ~10k-parameter transformer trained on them.

The flow of one answer, one module each:
knowledge (files -> chunks, kept current as files change; over scan: which files are notes and
their text, sentences: text -> chunks with line numbers, manifest: what was read, remembered)
-> retrieval (one package, one door: which sentences answer the question, what a follow-up
searches, and whether the notes say at all; its features cached on disk)
-> context + prompt ([CONTEXT]/[QUERY]/[ANSWER], fitted to the window)
-> runtime (numpy forward pass, one character at a time)
-> chat (a session) -> repl / cli (commands: the slash commands; views: /why and /probs;
watcher: live knowledge; key_bindings: the prompt's keys; locations: where settings, knowledge
and state live; citation: where an answer came from, as a path to type; editor: /open;
file_list: /files; transcript: /save; log: every answer, for `tinychat log`; completion: shell
completion scripts from the parser).
Training: examples (chunks -> rows) -> model (Keras) -> train (fit) -> checkpoint (HDF5), all
three reading one table of weights (architecture); reached through startup (load, or train
first) and evaluated by evaluate; resume keeps a stopped run's progress; trainer runs
the REPL's trainings in a child process.
Underneath: config (the settings), files (reading a file safely: regular files only, never
past a size cap, never writing through a link), guard (an array file's headers checked before
its data), atomic (writing one whole), terminal (text shown escaped), errors.
"""

import os

# The model's matrices are tiny (d_model 16): OpenBLAS's threads would wait longer for each other
# than they multiply, ten times longer than one thread on a busy two-core machine. numpy reads
# this once, when it loads, and every entry point imports this package before numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
