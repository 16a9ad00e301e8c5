window.MOVIEREC = {events: "http://127.0.0.1:8001"};
