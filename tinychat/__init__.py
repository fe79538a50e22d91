"""tinychat: chat with a folder of notes through a ~10k-parameter transformer trained on them.

The flow of one answer, one module each:
knowledge (files -> chunks) -> retriever + index_cache (chunks -> top-k) -> prompt
([CONTEXT]/[QUERY]/[ANSWER]) -> runtime (numpy forward pass, one character at a time)
-> chat (a session) -> repl / cli (views: /why and /probs; watcher: live knowledge;
key_bindings: the prompt's keys; locations: where settings, knowledge and state live).
Training: examples (chunks -> rows) -> model (Keras) -> train (fit) -> checkpoint (HDF5),
reached through weights (load, or train first) and evaluated by evaluate; resume keeps a
stopped run's progress; trainer runs the REPL's trainings in a child process.
"""

__version__ = "0.1.0"
