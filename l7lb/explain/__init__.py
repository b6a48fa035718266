"""``l7lb explain``: where a request would go, and why, from the configuration alone.

Offline by default; ``--live`` reads the server states of the running director
through its admin socket. Each step reuses the code the data path runs:

- ``request``: the request, built from a URL and options or read raw, parsed by
  the configured HTTP codec;
- ``vip``: which VIP the URL's address reaches;
- ``certificate``: which certificate SNI selects (``l7lb.tls.sni``, ``certinfo``);
- the routes: ``Router.explain`` (``l7lb.routing.router``);
- ``decision``: persistence (``l7lb.persistence.policy``) and the scheduler
  (``l7lb.balancing``), in the order ``l7lb.proxy.dispatch`` takes them;
- ``cookie``: what the client's persistence cookie says, checked;
- ``backend_head``: the head the realserver would receive;
- ``live``: ``show servers`` from the admin socket applied to the pool state;
- ``report``: the result as text or JSON; ``command``: the command line.
"""
