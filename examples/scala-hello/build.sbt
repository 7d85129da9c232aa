name := "scala-hello"
scalaVersion := "2.13.18"
