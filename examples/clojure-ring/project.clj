(defproject clojure-ring "0.1.0"
  :description "A Ring app on Kumo: lein ring serves hello.core/app, lein run the worker"
  :dependencies [[org.clojure/clojure "1.12.3"]
                 [org.clojure/data.json "2.5.1"]]
  :main hello.core
  :ring {:handler hello.core/app})
