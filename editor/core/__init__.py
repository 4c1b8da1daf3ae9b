"""Qt-free, torch-free model: image states, history, histogram, progress and cancel."""
