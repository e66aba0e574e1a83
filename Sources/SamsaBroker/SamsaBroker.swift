import SamsaLog
import SamsaProtocol
public enum SamsaBrokerVersion { public static let version = "0.1.0" }
