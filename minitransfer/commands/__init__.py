"""The commands of the §5 experiments, one module each (DESIGN §2 and §11).

``cli.py`` only declares the parsers and dispatches; each command's work is one function in its
module here, importing downward only. ``options`` holds the argument types and the flags every
command shares; ``common`` the task, the model, the pretraining and the report files they share.
"""
