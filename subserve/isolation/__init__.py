"""Which modules refuse an isolated (OWN_GIL) interpreter, and who ships them.

Runs in: main and worker interpreters (stdlib only). A worker uses it to
explain why the app cannot load there; ``subserve check`` to report it
before anyone deploys.
"""
