"""Running a matrix: the scheduler (who runs when), results on disk (stream.py: the result
stream; rundir.py: run directories and reading results back; runs.py: the list of runs;
jsonreport.py: the JSON report's format, written by reporters/jsonfile.py), comparing runs.

May import cell, findings, backends (the protocol), matrix, config and lower rooms.
"""
