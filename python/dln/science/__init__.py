"""The science built on the library: the published experiments (:mod:`.experiments`), ``dln reproduce``
(:mod:`.reproduce`), ``dln demo`` (:mod:`.demo`) and the figures (:mod:`.plotting`).

Nothing in the library imports from here.
"""
