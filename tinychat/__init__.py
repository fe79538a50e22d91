"""tinychat: chat with a folder of notes through a ~10k-parameter transformer trained on them.

The flow of one answer, one module each:
knowledge (files -> chunks) -> retriever (chunks -> top-k) -> prompt ([CONTEXT]/[QUERY]/[ANSWER])
-> runtime (numpy forward pass, one character at a time) -> chat (a session) -> repl / cli.
Training: examples (chunks -> rows) -> model (Keras) -> train (fit) -> checkpoint (HDF5).
"""

__version__ = "0.1.0"
