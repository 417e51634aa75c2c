"""Gantry's durable state behind one Store protocol (store.py).

records.py is the vocabulary (records, changes, Snapshot); sqlite.py the embedded implementation
(one file in the data directory); aio.py the asyncio facade that confines a store to one worker
thread; mapping.py turns the core's Persist* effects into store changes; admin.py is the operator
tool (check, backup, restore). The core never imports this package.
"""
