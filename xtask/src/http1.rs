//! A minimal HTTP/1.1 client over one keep-alive connection, for load from many threads: enough
//! of the protocol for the origin's answers (`Content-Length`, chunked, or to the end), no TLS,
//! no redirects. A connection per request would run the machine out of ports under load.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// An answer: its status and body.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Why there is no answer.
pub enum Failure {
    /// Nothing accepted the connection: the server is not listening.
    Connect(String),
    /// The request may have reached the server, but no whole answer came back.
    NoAnswer(String),
}

pub struct Client {
    addr: SocketAddr,
    timeout: Duration,
    connection: Option<BufReader<TcpStream>>,
}

impl Client {
    /// `timeout` bounds the connect, and each read and write of a request.
    pub fn new(addr: SocketAddr, timeout: Duration) -> Self {
        Client { addr, timeout, connection: None }
    }

    /// One request: a JSON body if `json` is given, and `headers` besides.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        json: Option<&str>,
    ) -> Result<Answer, Failure> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: xtask\r\n", self.addr);
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let body = json.unwrap_or_default();
        if json.is_some() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        let connection = match self.connection.take() {
            Some(connection) => connection,
            None => BufReader::new(self.connect()?),
        };
        let (answer, reusable, connection) = exchange(connection, head.as_bytes())?;
        if reusable {
            self.connection = Some(connection);
        }
        Ok(answer)
    }

    fn connect(&self) -> Result<TcpStream, Failure> {
        let stream = TcpStream::connect_timeout(&self.addr, self.timeout)
            .map_err(|error| Failure::Connect(format!("connect to {}: {error}", self.addr)))?;
        let configure = || -> std::io::Result<()> {
            stream.set_read_timeout(Some(self.timeout))?;
            stream.set_write_timeout(Some(self.timeout))?;
            stream.set_nodelay(true)
        };
        configure().map_err(|error| Failure::Connect(error.to_string()))?;
        Ok(stream)
    }
}

/// Writes the request, reads the answer; whether the connection may carry another request.
fn exchange(
    mut connection: BufReader<TcpStream>,
    request: &[u8],
) -> Result<(Answer, bool, BufReader<TcpStream>), Failure> {
    let lost = |what: &str, error: std::io::Error| Failure::NoAnswer(format!("{what}: {error}"));
    connection.get_mut().write_all(request).map_err(|e| lost("sending", e))?;
    let mut line = String::new();
    read_line(&mut connection, &mut line)?;
    let mut words = line.split_whitespace();
    let version = words.next().unwrap_or_default().to_owned();
    let status = words
        .next()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| Failure::NoAnswer(format!("not an HTTP status line: {line:?}")))?;
    let mut length = None;
    let mut chunked = false;
    let mut close = version != "HTTP/1.1";
    loop {
        read_line(&mut connection, &mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            return Err(Failure::NoAnswer(format!("not a header: {header:?}")));
        };
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            read_line(&mut connection, &mut line)?;
            let size = line.trim().split(';').next().unwrap_or_default();
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| Failure::NoAnswer(format!("not a chunk size: {line:?}")))?;
            if size == 0 {
                // Trailers, if any, end with an empty line.
                loop {
                    read_line(&mut connection, &mut line)?;
                    if line.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            connection.read_exact(&mut body[start..]).map_err(|e| lost("reading a chunk", e))?;
            read_line(&mut connection, &mut line)?;
        }
    } else if let Some(length) = length {
        body.resize(length, 0);
        connection.read_exact(&mut body).map_err(|e| lost("reading the body", e))?;
    } else {
        connection.read_to_end(&mut body).map_err(|e| lost("reading the body", e))?;
        close = true;
    }
    Ok((Answer { status, body }, !close, connection))
}

/// The next line into `line`; the end of the stream before it is a lost answer.
fn read_line(connection: &mut BufReader<TcpStream>, line: &mut String) -> Result<(), Failure> {
    line.clear();
    match connection.read_line(line) {
        Ok(0) => Err(Failure::NoAnswer("the connection closed before the answer".to_owned())),
        Ok(_) => Ok(()),
        Err(error) => Err(Failure::NoAnswer(format!("reading the answer: {error}"))),
    }
}
