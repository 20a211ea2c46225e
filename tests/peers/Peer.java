// A test peer in Java: DataOutputStream.writeInt is big-endian, i.e. framed's default u32be.
// java Peer.java PORT  → pipelines 100 frames at an echo server, checks every echo, prints "ok 100".
import java.io.*;
import java.net.Socket;
import java.util.Arrays;
import java.util.Random;

public class Peer {
  public static void main(String[] args) throws Exception {
    try (Socket socket = new Socket("127.0.0.1", Integer.parseInt(args[0]))) {
      socket.setTcpNoDelay(true);
      DataOutputStream out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream()));
      DataInputStream in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
      Random random = new Random(42);
      byte[][] sent = new byte[100][];
      for (int i = 0; i < sent.length; i++) {
        sent[i] = new byte[i == 99 ? 1 << 20 : random.nextInt(5000)];
        random.nextBytes(sent[i]);
        out.writeInt(sent[i].length);
        out.write(sent[i]);
      }
      out.flush();
      for (int i = 0; i < sent.length; i++) {
        byte[] echo = new byte[in.readInt()];
        in.readFully(echo);
        if (!Arrays.equals(echo, sent[i])) throw new IllegalStateException("frame " + i + " differs");
      }
      System.out.println("ok " + sent.length);
    }
  }
}
