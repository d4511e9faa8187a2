"""The fault campaign (`make faults`, issues 10 and 19): recordings flow from a station agent through
nginx, two API nodes and the workers while a driver kills -9 one API node at a time, a worker,
Redis and the object store; afterwards every recording must be present exactly once, verified
and processed, with the custody chain intact. Figures go to test-artifacts/faults.json.

stack.py the processes · recordings.py the videos and the docking feed · casework.py the
recorders, case and steps the audit judges · driver.py the fault schedule · figures.py the
counting."""
