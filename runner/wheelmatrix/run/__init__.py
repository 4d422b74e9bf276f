"""Running a matrix: the scheduler (who runs when), the result store on disk, comparing runs.

May import cell, findings, backends (the protocol), matrix, config and lower rooms.
"""
