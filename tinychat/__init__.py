"""tinychat: chat with a folder of notes through a ~10k-parameter transformer trained on them.

The flow of one answer, one module each:
knowledge (files -> chunks, kept current as files change; over scan: which files are notes and
their text, sentences: text -> chunks with line numbers, manifest: what was read, remembered)
-> conversation (what to search: the question, plus the subject a follow-up refers to)
-> lexical + answer_kinds (which note, then which sentences; over terms: words, stems and
3-grams, and postings: BM25 over them; retriever: the original embedding retrievers; indexing:
builds and updates the indexes, with each chunk's features cached on disk)
-> abstain (or: the notes don't say)
-> prompt ([CONTEXT]/[QUERY]/[ANSWER]) -> runtime (numpy forward pass, one character at a time)
-> chat (a session) -> repl / cli (views: /why and /probs; watcher: live knowledge;
key_bindings: the prompt's keys; locations: where settings, knowledge and state live).
Training: examples (chunks -> rows) -> model (Keras) -> train (fit) -> checkpoint (HDF5), all
three reading one table of weights (architecture); reached through startup (load, or train
first) and evaluated by evaluate; resume keeps a stopped run's progress; trainer runs
the REPL's trainings in a child process.
Underneath: config (the settings), files (reading a file safely: regular files only, never
past a size cap), atomic (writing one whole), terminal (text shown escaped), errors.
"""

import os

# The model's matrices are tiny (d_model 16): OpenBLAS's threads would wait longer for each other
# than they multiply, ten times longer than one thread on a busy two-core machine. numpy reads
# this once, when it loads, and every entry point imports this package before numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
