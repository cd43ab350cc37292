"""The sequencer in its own process, fed by the HTTP workers over a local socket.

`serve` starts one sequencing process (`server.run`) beside its HTTP workers. Workers decode,
open and verify each submission, then hand it over (`client.SequencerClient`); the sequencing
process decides and commits in batches (`ledger.storage.sequencer.Sequencer`) and answers each
with its receipt after the commit. So the event loops never share an interpreter with the
sequencer, and `--workers N` adds decoding and signature checks without adding writers.
"""
