import SamsaProtocol
public enum SamsaClientVersion { public static let version = "0.1.0" }
