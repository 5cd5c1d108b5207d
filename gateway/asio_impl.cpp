// The one translation unit that compiles Asio and Beast (separate-compilation mode).
#include <utility>  // before Asio: Boost 1.74's coroutine headers need std::exchange

#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
