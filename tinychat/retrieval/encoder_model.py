"""A pretrained sentence encoder run by ONNX Runtime: texts in, unit-length vectors out.

Imported only when `retrieval.encoder` names a model, and it alone imports the `encoder` extra's
libraries (onnxruntime, tokenizers and, to fetch a model by name, huggingface_hub). A model is a
folder holding an ONNX graph and its tokenizer:

    model.onnx (or onnx/model.onnx)   inputs input_ids, attention_mask (and token_type_ids),
                                      int64 (batch, tokens); first output (batch, tokens, width)
    tokenizer.json                    the `tokenizers` library's file for that graph

as sentence-transformers publishes its models (all-MiniLM-L6-v2 among them) and as
`bench/export_encoder.py` writes one. A sentence's vector is the mean of its tokens' output rows
(padding left out), scaled to unit length: the pooling all-MiniLM-L6-v2 was trained with.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path
from typing import Callable

import numpy as np

from tinychat.errors import TinychatError

MODEL_FILES = ("model.onnx", "onnx/model.onnx")  # where a folder, or a name's download, holds it
TOKENIZER_FILE = "tokenizer.json"
LIBRARIES = ("onnxruntime", "tokenizers")
EXTRA = 'pip install "tinychat[encoder]"'
# all-MiniLM-L6-v2 was trained on 256 tokens at most; a sentence of the notes is far shorter
MAX_TOKENS = 256
BATCH = 32  # sentences per run of the graph: larger batches were no faster on 2 cores
# "owner/name" as the model hub spells a model
HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
IDENTITY_PIECE = 1 << 20  # bytes hashed per read: the graph file is tens of megabytes


def check_libraries(source: str) -> None:
    """TinychatError in one line if the extra's libraries are not installed (looked up, not
    imported: that is the loading's job)."""
    missing = [name for name in LIBRARIES if importlib.util.find_spec(name) is None]
    if missing:
        raise TinychatError(f"retrieval.encoder: {source} needs {' and '.join(missing)}: {EXTRA}")


def is_hub_name(source: str) -> bool:
    """Whether `source` reads as a model hub name ("sentence-transformers/all-MiniLM-L6-v2")."""
    return HUB_NAME.fullmatch(source) is not None


class Encoder:
    """An ONNX graph and its tokenizer: `encode(texts)` gives (len(texts), width) unit rows."""

    def __init__(self, folder: Path):
        import onnxruntime
        from tokenizers import Tokenizer

        self.folder = folder
        graph = next((folder / name for name in MODEL_FILES if (folder / name).is_file()), None)
        if graph is None or not (folder / TOKENIZER_FILE).is_file():
            raise TinychatError(
                f"{folder}: holds no model.onnx and tokenizer.json; give retrieval.encoder a"
                " folder that does (bench/export_encoder.py writes one)"
            )
        try:
            self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3  # errors only: its warnings are not the user's to fix
            # One thread, which never spins while it waits: on a busy 2-core machine that encoded
            # the most sentences per second (111, against 88 with two threads and 41 with two
            # spinning ones) and answered a question the fastest; the other core stays the chat's.
            options.intra_op_num_threads = 1
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self.session = onnxruntime.InferenceSession(
                str(graph), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # noqa: BLE001  protobuf, ORT and JSON errors: one line
            raise TinychatError(
                f"{folder}: cannot load the encoder ({_first_line(error)}); export it again"
            ) from None
        # the file's own settings pad every text to a fixed length: pad to the batch's longest
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.inputs = [node.name for node in self.session.get_inputs()]
        if not {"input_ids", "attention_mask"} <= set(self.inputs):
            raise TinychatError(
                f"{graph}: the graph takes {', '.join(self.inputs)}, not input_ids and"
                " attention_mask; export it again"
            )
        self.identity = _identity(graph, folder / TOKENIZER_FILE)
        self.width = int(self._pool(["a"]).shape[1])  # 384 for all-MiniLM-L6-v2

    def encode(
        self, texts: list[str], on_batch: Callable[[int], None] = lambda done: None
    ) -> np.ndarray:
        """(len(texts), width) float32 unit vectors; `on_batch(done)` after each batch."""
        # texts of a length share a batch, so little of each batch is padding
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        batches = []
        for start in range(0, len(texts), BATCH):
            batches.append(self._pool([texts[i] for i in order[start : start + BATCH]]))
            on_batch(min(start + BATCH, len(texts)))
        if not batches:
            return np.zeros((0, self.width), np.float32)
        vectors = np.empty((len(texts), batches[0].shape[1]), np.float32)
        vectors[order] = np.concatenate(batches)
        return vectors

    def _pool(self, texts: list[str]) -> np.ndarray:
        """Mean of each text's token rows under its attention mask, at unit length."""
        encodings = self.tokenizer.encode_batch(texts)
        longest = max(len(encoding.ids) for encoding in encodings)
        ids = np.zeros((len(texts), longest), np.int64)  # (batch, tokens)
        mask = np.zeros((len(texts), longest), np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, {name: feeds[name] for name in self.inputs})[0]
        hidden = np.asarray(hidden, np.float32)  # (batch, tokens, width)
        summed = (hidden * mask[:, :, None]).sum(axis=1)
        mean = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        return mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)


def model_folder(source: str, quiet: bool = False) -> Path:
    """The folder holding the model `source` names: the folder itself, or a hub name's copy in
    huggingface_hub's cache, fetched the first time only (with a progress bar unless `quiet`)."""
    folder = Path(source).expanduser()
    if folder.is_dir() or not is_hub_name(source):
        if not folder.is_dir():
            raise TinychatError(
                f"retrieval.encoder: {source} is not a folder; give a folder holding model.onnx"
                " and tokenizer.json, a model name, or none"
            )
        return folder
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import disable_progress_bars

    if quiet:
        disable_progress_bars()
    wanted = [*MODEL_FILES, TOKENIZER_FILE]
    try:  # the cache first: once the model is there, nothing is asked of the network
        return Path(snapshot_download(source, allow_patterns=wanted, local_files_only=True))
    except Exception:  # noqa: BLE001  not cached yet (or its copy is incomplete): fetch it
        pass
    try:
        return Path(snapshot_download(source, allow_patterns=wanted))
    except Exception as error:  # noqa: BLE001  offline, unknown name, refused: one line
        offline = type(error).__name__ == "LocalEntryNotFoundError"
        why = "not cached, and the model hub cannot be reached" if offline else _first_line(error)
        raise TinychatError(
            f"retrieval.encoder: cannot fetch {source} ({why}); connect once to cache it, or"
            " give a folder made by bench/export_encoder.py"
        ) from None


def load_encoder(source: str, quiet: bool = False) -> Encoder:
    """The encoder `source` names (a folder or a hub name); TinychatError in one line if the extra
    is not installed or the model cannot be had."""
    check_libraries(source)
    return Encoder(model_folder(source, quiet))


def _identity(*files: Path) -> str:
    """A hash of the files' bytes: vectors made by another model, or a re-export, are stale."""
    digest = hashlib.sha1()
    for path in files:
        with open(path, "rb") as file:
            while piece := file.read(IDENTITY_PIECE):
                digest.update(piece)
    return digest.hexdigest()


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:160]

