"""tinychat: chat with a folder of notes through a ~10k-parameter transformer trained on them.

The flow of one answer, one module each:
knowledge (files -> chunks) -> retriever + index_cache (chunks -> top-k) -> prompt
([CONTEXT]/[QUERY]/[ANSWER]) -> runtime (numpy forward pass, one character at a time)
-> chat (a session) -> repl / cli (views: /why and /probs; watcher: live knowledge).
Training: examples (chunks -> rows) -> model (Keras) -> train (fit) -> checkpoint (HDF5),
reached through weights (load, or train first) and evaluated by evaluate.
Underneath: config (the settings), files (reading a file safely: regular files only, never
past a size cap), atomic (writing one whole), terminal (text shown escaped), errors.
"""

__version__ = "0.1.0"
