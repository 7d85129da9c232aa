(ns hello.core
  "A Ring handler (served by `lein ring server-headless`) and a worker
  (`lein run ARGS`): a greeting from a config var, an echo of the request,
  a JSON sum, a chat that answers each line as it arrives, and a route that
  throws."
  (:require [clojure.data.json :as json]
            [clojure.java.io :as io]
            [clojure.string :as str])
  (:gen-class))

(def counter (atom 0))

(defn- greeting []
  (str (or (System/getenv "GREETING") "Hello") " from Clojure on Kumo (request "
       (swap! counter inc) ")\n"))

(defn app [{:keys [request-method uri query-string headers body]}]
  (case uri
    "/" {:status 200
         :headers {"Content-Type" "text/plain; charset=utf-8"}
         :body (greeting)}
    "/echo" {:status 200
             :headers {"Content-Type" "text/plain" "X-Echo" "yes"}
             :body (str (str/upper-case (name request-method)) " " uri "?" query-string
                        " type=" (get headers "content-type")
                        " body=" (slurp body) "\n")}
    "/sum" (let [numbers (json/read-str (slurp body))]
             {:status 200
              :headers {"Content-Type" "application/json"}
              :body (json/write-str {:sum (reduce + numbers) :count (count numbers)})})
    ;; Each line of the request body answered as it arrives: both bodies stream.
    "/chat" {:status 200
             :headers {"Content-Type" "text/plain; charset=utf-8"}
             :body (map #(str "you said: " % "\n") (line-seq (io/reader body)))}
    "/fail" (throw (IllegalStateException. "this route always fails"))
    {:status 404 :headers {"Content-Type" "text/plain"} :body "not found\n"}))

(defn -main [& args]
  (println "worker: args=" (str/join "," args))
  (when (= (first args) "stdin")
    (println "worker: read" (read-line)))
  (when (= (first args) "exit")
    (System/exit (Integer/parseInt (second args))))
  (when (= (first args) "fail")
    (throw (IllegalArgumentException. "asked to fail"))))
