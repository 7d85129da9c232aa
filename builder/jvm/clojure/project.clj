;; Reads a Clojure app's deps.edn or project.clj for Kumo's Clojure buildpack,
;; with Clojure's own reader, on the build machine's JVM:
;;   java -cp CLOJURE_JARS clojure.main project.clj APP_DIR
;; and prints what the build needs, one fact per line:
;;   dep GROUP ARTIFACT VERSION   a Maven dependency
;;   path DIR                      a source or resource folder
;;   main NS                       the namespace `lein run` runs
;;   ring NS/NAME                  the Ring handler `lein ring server` serves
;; A dependency Kumo cannot fetch (git, local) is an error naming it.
(ns kumo.project
  (:require [clojure.edn :as edn]
            [clojure.java.io :as io]))

(defn- fail [& words]
  (binding [*out* *err*] (println (apply str words)))
  (System/exit 2))

(defn- coordinates [lib]
  (let [group (or (namespace lib) (name lib))]
    [group (name lib)]))

(defn- dep [lib version]
  (let [[group artifact] (coordinates lib)]
    (println "dep" group artifact version)))

(defn- from-deps-edn [file]
  (let [deps (edn/read-string (slurp file))]
    (doseq [[lib coord] (:deps deps)]
      (cond
        (:mvn/version coord) (dep lib (:mvn/version coord))
        :else (fail "deps.edn: " lib " is " (pr-str coord)
                    ": Kumo fetches dependencies from Maven Central only ({:mvn/version \"…\"})")))
    (doseq [path (or (:paths deps) ["src"])]
      (println "path" path))))

(defn- from-project-clj [file]
  (let [form (binding [*read-eval* false]
               (with-open [r (java.io.PushbackReader. (io/reader file))]
                 (read r)))
        _ (when-not (and (seq? form) (= 'defproject (first form)))
            (fail "project.clj: expected (defproject name \"version\" …)"))
        options (apply hash-map (drop 3 form))]
    (doseq [[lib version & _] (:dependencies options)]
      (when-not (string? version)
        (fail "project.clj: the version of " lib " is not a string"))
      (dep lib version))
    (doseq [path (concat (or (:source-paths options) ["src"])
                         (or (:resource-paths options) ["resources"]))]
      (println "path" path))
    (when-let [main (:main options)]
      (println "main" main))
    (when-let [handler (get-in options [:ring :handler])]
      (println "ring" handler))))

(let [app (io/file (first *command-line-args*))
      deps (io/file app "deps.edn")
      project (io/file app "project.clj")]
  (try
    (cond
      (.isFile deps) (from-deps-edn deps)
      (.isFile project) (from-project-clj project)
      :else (fail "no deps.edn or project.clj"))
    (catch Exception e
      (fail (if (.isFile deps) "deps.edn" "project.clj") " cannot be read: " (.getMessage e))))
  (flush))
