"""The GUI: widgets, Qt item models, delegates and plots. Talks to the core only through the worker
(ui/host.py: the Protocols the window is written against) and core's plain types."""
