"""Gantry's durable state behind one Store protocol (store.py).

records.py is the vocabulary (records, changes, Snapshot), sqlite.py the embedded implementation
(one file in the data directory), aio.py the asyncio facade that confines a store to one thread.
The driver maps core Persist* effects onto records; the core never imports this package.
"""
