package example

import com.sun.net.httpserver.{HttpExchange, HttpServer}
import java.net.InetSocketAddress
import java.nio.charset.StandardCharsets

/** A Scala web app on the JDK's own HTTP server. */
object Main {
  def main(args: Array[String]): Unit = {
    val port = sys.env.getOrElse("PORT", "8080").toInt
    val server = HttpServer.create(new InetSocketAddress(port), 0)
    server.createContext("/", (exchange: HttpExchange) => {
      val greeting = sys.env.getOrElse("GREETING", "Hello")
      val words = List("Scala", "on", "Kumo").map(_.toUpperCase).mkString(" ")
      respond(exchange, s"$greeting from $words: ${exchange.getRequestURI.getPath}\n")
    })
    server.createContext("/fail", (_: HttpExchange) => throw new IllegalStateException("this route always fails"))
    server.start()
    println(s"scala-hello listening on port $port")
  }

  private def respond(exchange: HttpExchange, text: String): Unit = {
    val bytes = text.getBytes(StandardCharsets.UTF_8)
    exchange.sendResponseHeaders(200, bytes.length.toLong)
    val out = exchange.getResponseBody
    try out.write(bytes) finally out.close()
  }
}

/** A worker, also run as a one-off: prints its arguments; `stdin` reads a line,
  * `exit N` exits with status N, `fail` throws. */
object Worker {
  def main(args: Array[String]): Unit = {
    println(s"worker: args=${args.mkString(",")}")
    args.toList match {
      case "stdin" :: _       => println(s"worker: read ${scala.io.StdIn.readLine()}")
      case "exit" :: code :: _ => sys.exit(code.toInt)
      case "fail" :: _        => throw new IllegalArgumentException("asked to fail")
      case _                  =>
    }
  }
}
