"""`l7lb bench`: an HTTP/1.1 load tester that controls TLS resumption and checks stickiness."""
