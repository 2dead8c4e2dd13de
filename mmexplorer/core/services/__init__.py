"""Services an Engine composes beside its catalog, spaces, indexer and searcher.

Each owns one lifecycle of the library (loading a model on first need, what waits for it, what
is stored about it, releasing it) and gets its collaborators in its constructor:
- `captions`: the photo captioner (issue 10): which model, on or off, captioning runs, status;
- `speech`: the speech model (issue 9): transcripts, spoken queries, the library's hotwords and
  languages, re-transcribing when the model changes.
"""
