(ns kumo.ring
  "Serving a Ring handler on Kumo: the JDK's HttpServer, which Kumo serves
  from the router, as `ring.adapter.jetty/run-jetty` serves one on Jetty."
  (:import (kumo Ring)))

(defn run-server
  "Serves `handler` on $PORT and returns the server (a
  com.sun.net.httpserver.HttpServer). Call it from -main; `opts` is accepted
  for the shape of run-jetty's call, the port is always $PORT's."
  ([handler] (run-server handler {}))
  ([handler _opts] (Ring/serve handler)))
